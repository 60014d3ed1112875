//! Redis: one lazily connecting, self-reconnecting connection per process,
//! each command a client span when spans are exported.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
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
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1);
    ConnectionManager::new_lazy_with_config(client, config).map(Redis).map_err(|e| format!("redis: {e}"))
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
