//! Redis: one lazily connecting, self-reconnecting connection per process,
//! each command a client span when spans are exported.

mod kept;
mod tracked;

pub use tracked::{TRACKED_BYTES, Tracked};

use std::time::Duration;

use redis::aio::{AsyncPushSender, ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tracing::{Instrument, Span};

use crate::config::Settings;
use crate::error::Error;
use crate::telemetry::trace_context;

/// The process's connection to Redis: cheap to clone, multiplexed, used as
/// any `redis` connection is (`.query_async(&mut redis)`, scripts, pipelines).
#[derive(Clone)]
pub struct Redis(ConnectionManager);

/// Opens no connection until the first command, and reconnects by itself
/// after Redis restarts; a command while Redis is down fails fast with 503.
pub fn lazy_connection(settings: &Settings) -> Result<Redis, String> {
    let client = redis::Client::open(settings.redis_url.expose())
        .map_err(|e| format!("configuration: REDIS_URL: {e}"))?;
    ConnectionManager::new_lazy_with_config(client, manager_config())
        .map(Redis)
        .map_err(|e| format!("redis: {e}"))
}

/// As [`lazy_connection`], speaking RESP3, with what the server pushes
/// (and each loss of the connection, as a `Disconnection`) handed to `pushes`.
fn lazy_resp3_connection(settings: &Settings, pushes: impl AsyncPushSender) -> Result<Redis, String> {
    let info = redis::IntoConnectionInfo::into_connection_info(settings.redis_url.expose())
        .map_err(|e| format!("configuration: REDIS_URL: {e}"))?;
    let resp3 = info.redis_settings().clone().set_protocol(redis::ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(resp3))
        .map_err(|e| format!("configuration: REDIS_URL: {e}"))?;
    ConnectionManager::new_lazy_with_config(client, manager_config().set_push_sender(pushes))
        .map(Redis)
        .map_err(|e| format!("redis: {e}"))
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1)
}

/// `PING`: the readiness check.
pub async fn ping(conn: &mut Redis) -> Result<(), redis::RedisError> {
    redis::cmd("PING").query_async::<String>(conn).await.map(|_| ())
}

impl ConnectionLike for Redis {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let span = command_span(|| match cmd.args_iter().next() {
            Some(redis::Arg::Simple(name)) => String::from_utf8_lossy(name).to_ascii_uppercase(),
            _ => "COMMAND".to_owned(),
        });
        Box::pin(self.0.req_packed_command(cmd).instrument(span))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let span = command_span(|| "PIPELINE".to_owned());
        Box::pin(self.0.req_packed_commands(pipeline, offset, count).instrument(span))
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}

/// A client span named for the command (`EVALSHA`, `HGETALL`), as the
/// database semantic conventions say; none when spans are not exported.
fn command_span(name: impl FnOnce() -> String) -> Span {
    if !crate::telemetry::exporting() {
        return Span::none();
    }
    let name = name();
    let span = tracing::info_span!("redis", otel.name = tracing::field::Empty, otel.kind = "client");
    trace_context::set_name(&span, || name.clone());
    trace_context::set_attributes(&span, || {
        vec![
            opentelemetry::KeyValue::new("db.system.name", "redis"),
            opentelemetry::KeyValue::new("db.operation.name", name),
        ]
    });
    span
}

pub(crate) static ERRORS: crate::metrics::Counters =
    crate::metrics::counters("redis_errors", "Redis calls that failed, by kind");

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        let kind = if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
            "connection"
        } else if e.is_timeout() {
            "timeout"
        } else {
            "reply"
        };
        ERRORS.get_or_create(&crate::metrics::labels(&[("kind", kind)])).inc();
        if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
            Error::unavailable("redis_unavailable", e)
        } else {
            Error::Internal(e.into())
        }
    }
}
