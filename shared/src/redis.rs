//! Redis: one lazily connecting, self-reconnecting connection per process.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::Settings;
use crate::error::Error;

/// Opens no connection until the first command, and reconnects by itself
/// after Redis restarts; a command while Redis is down fails fast with 503.
pub fn lazy_connection(settings: &Settings) -> Result<ConnectionManager, String> {
    let client = redis::Client::open(settings.redis_url.expose())
        .map_err(|e| format!("configuration: REDIS_URL: {e}"))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1);
    ConnectionManager::new_lazy_with_config(client, config).map_err(|e| format!("redis: {e}"))
}

/// `PING`: the readiness check.
pub async fn ping(conn: &mut ConnectionManager) -> Result<(), redis::RedisError> {
    redis::cmd("PING").query_async::<String>(conn).await.map(|_| ())
}

static ERRORS: std::sync::LazyLock<crate::metrics::CounterFamily> = std::sync::LazyLock::new(|| {
    crate::metrics::counter_family("redis_errors", "Redis calls that failed, by kind")
});

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

/// Registers this module's metrics, so /metrics shows them before they first move.
pub(crate) fn register_metrics() {
    for kind in ["connection", "timeout", "reply"] {
        let _ = ERRORS.get_or_create(&crate::metrics::labels(&[("kind", kind)]));
    }
}
