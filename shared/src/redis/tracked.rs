//! Reads answered from the process's memory until Redis says a key they
//! read has changed (server-assisted client-side caching, RESP3 `CLIENT
//! TRACKING`): a hot read model served without a round trip, never staler
//! than the invalidation's way back from Redis.
//!
//! Redis remembers the keys each read named and pushes an `invalidate` on
//! the same connection when one of them is written, expired or evicted. A
//! reply is kept only if no invalidation (and no loss of the connection,
//! which loses the server's memory of what was read) arrived between the
//! moment its read was sent and the moment it is kept: a write that lands
//! after the read was answered is pushed after that reply, so it either
//! finds the reply kept and drops it, or has moved the generation on and
//! the reply is not kept.

use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::metrics::counter::Counter;
use redis::aio::ConnectionLike;
use redis::{Arg, Cmd, ErrorKind, Pipeline, PushInfo, RedisError, RedisFuture, RedisResult, Value};

use super::Redis;
use super::kept::Kept;
use crate::config::Settings;

static READS: crate::metrics::Counters = crate::metrics::counters(
    "redis_tracked_reads",
    "Reads through a tracked Redis connection, by whether memory answered (hit) or Redis (miss)",
);

/// How much memory a process gives the replies it keeps, about: well inside
/// a function's limit (128 MiB), and room for thousands of flights.
pub const TRACKED_BYTES: usize = 16 << 20;

/// A Redis connection for reads whose replies the process keeps until
/// Redis invalidates them: cheap to clone, one per process. It runs only
/// reads whose every key is named (`GET`, `EXISTS`, `ZRANGE`, `HGET`,
/// `HGETALL`, `HMGET`), one at a time or pipelined; anything else is refused.
#[derive(Clone)]
pub struct Tracked {
    redis: Redis,
    kept: Arc<Mutex<Kept>>,
    hits: Counter,
    misses: Counter,
}

impl Tracked {
    /// Keeps replies up to about `bytes` (past that, others go for each
    /// that comes); connects on the first read that memory cannot answer.
    pub fn lazy(settings: &Settings, bytes: usize) -> Result<Tracked, String> {
        let kept = Arc::new(Mutex::new(Kept::new(bytes)));
        let pushed = kept.clone();
        let redis = super::lazy_resp3_connection(settings, move |push: PushInfo| {
            lock(&pushed).pushed(push);
            Ok::<(), std::convert::Infallible>(())
        })?;
        let outcome = |outcome| READS.get_or_create(&crate::metrics::labels(&[("outcome", outcome)])).clone();
        Ok(Tracked { redis, kept, hits: outcome("hit"), misses: outcome("miss") })
    }

    /// How many replies are kept now, and about how many bytes they take.
    pub fn kept(&self) -> (usize, usize) {
        lock(&self.kept).held()
    }

    /// The reply kept for `request`, or the generation a read sent now
    /// must still find for its reply to be kept.
    fn recall(&self, request: &[u8]) -> Result<Value, u64> {
        let recalled = lock(&self.kept).recall(request);
        match recalled {
            Ok(_) => self.hits.inc(),
            Err(_) => self.misses.inc(),
        };
        recalled
    }
}

impl ConnectionLike for Tracked {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let request = cmd.get_packed_command();
            let generation = match self.recall(&request) {
                Ok(reply) => return Ok(reply),
                Err(generation) => generation,
            };
            // Only a read is ever kept, so only a miss needs checking.
            let keys = read_keys(cmd)?;
            let mut read = tracking_on();
            read.add_command(cmd.clone());
            let reply = self
                .redis
                .req_packed_commands(&read, 1, 1)
                .await?
                .pop()
                .ok_or_else(|| error("Redis sent no reply to a read"))?;
            lock(&self.kept).keep(generation, request.into(), keys, reply.clone());
            Ok(reply)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut request = pipeline.get_packed_pipeline();
            request.extend_from_slice(&offset.to_le_bytes());
            request.extend_from_slice(&count.to_le_bytes());
            let generation = match self.recall(&request) {
                Ok(Value::Array(replies)) => return Ok(replies),
                Ok(_) => return Err(error("a pipeline's kept reply is not a list")),
                Err(generation) => generation,
            };
            if pipeline.is_transaction() {
                return Err(error("a tracked connection does not run transactions"));
            }
            let (mut keys, mut read) = (Vec::new(), tracking_on());
            for cmd in pipeline.cmd_iter() {
                keys.extend(read_keys(cmd)?);
                read.add_command(cmd.clone());
            }
            let replies = self.redis.req_packed_commands(&read, offset + 1, count).await?;
            lock(&self.kept).keep(generation, request.into(), keys, Value::Array(replies.clone()));
            Ok(replies)
        })
    }

    fn get_db(&self) -> i64 {
        self.redis.get_db()
    }
}

/// Sent before every read memory cannot answer: the connection may be new
/// (Redis restarted, the connection was lost), and tracking is per connection.
fn tracking_on() -> Pipeline {
    let mut pipe = redis::pipe();
    pipe.cmd("CLIENT").arg("TRACKING").arg("ON");
    pipe
}

/// The keys `cmd` reads, if it is a read a reply can be kept for: one
/// whose reply depends on the keys it names and nothing else.
fn read_keys(cmd: &Cmd) -> RedisResult<Vec<Vec<u8>>> {
    let mut args = cmd.args_iter().map(|arg| match arg {
        Arg::Simple(bytes) => bytes,
        _ => b"",
    });
    let name = args.next().unwrap_or_default().to_ascii_uppercase();
    let keys: Vec<Vec<u8>> = match name.as_slice() {
        b"GET" | b"ZRANGE" | b"HGET" | b"HGETALL" | b"HMGET" => args.take(1).map(<[u8]>::to_vec).collect(),
        b"EXISTS" => args.map(<[u8]>::to_vec).collect(),
        _ => Vec::new(),
    };
    if keys.is_empty() {
        let name = String::from_utf8_lossy(&name).into_owned();
        return Err(error_with("a tracked connection runs reads of named keys only, not", name));
    }
    Ok(keys)
}

fn lock(kept: &Mutex<Kept>) -> MutexGuard<'_, Kept> {
    kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn error(what: &'static str) -> RedisError {
    RedisError::from((ErrorKind::Client, what))
}

fn error_with(what: &'static str, detail: String) -> RedisError {
    RedisError::from((ErrorKind::Client, what, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reads_of_named_keys_are_run() {
        assert_eq!(read_keys(redis::cmd("get").arg("a")).unwrap(), vec![b"a".to_vec()]);
        assert_eq!(read_keys(redis::cmd("EXISTS").arg("a").arg("b")).unwrap().len(), 2);
        assert!(read_keys(redis::cmd("SET").arg("a").arg(1)).is_err());
        assert!(read_keys(redis::cmd("EVALSHA").arg("x").arg(1).arg("a")).is_err());
    }
}
