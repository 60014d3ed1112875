//! A per-client request limit held in Redis, so it holds across replicas:
//! a fixed one-minute window per client, counted with one atomic script.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

use http::HeaderMap;

use crate::error::Error;
use crate::function::Ctx;

const WINDOW_SECS: i64 = 60;

/// INCR, and start the window's clock on the first request of the window.
static COUNT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "local n = redis.call('INCR', KEYS[1])
         if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
         return {n, redis.call('TTL', KEYS[1])}",
    )
});

/// Who is asking: the API key (hashed: keys never reach Redis) or, without
/// one, the first address in X-Forwarded-For (set by Knative's proxies).
pub fn client_of(headers: &HeaderMap) -> String {
    if let Some(key) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        return format!("key:{:016x}", hasher.finish());
    }
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|ip| format!("ip:{}", ip.trim()))
        .unwrap_or_else(|| "anonymous".into())
}

/// Counts the request; refuses it with 429 past the limit. With Redis down
/// the request goes through: the limit protects the model, it is not worth
/// an outage.
pub async fn check(ctx: &Ctx, function: &str, client: &str) -> Result<(), Error> {
    let limit = i64::from(ctx.settings().rate_limit_per_minute);
    let key = format!("ratelimit:{function}:{client}");
    let counted: Result<(i64, i64), redis::RedisError> =
        COUNT.key(key).arg(WINDOW_SECS).invoke_async(&mut ctx.redis()).await;
    match counted {
        Ok((count, ttl)) if count > limit => Err(Error::RateLimited { retry_after_secs: ttl.max(1) as u64 }),
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "rate limit not checked: Redis unavailable");
            Ok(())
        }
    }
}
