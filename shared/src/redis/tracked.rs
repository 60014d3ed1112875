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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::metrics::counter::Counter;
use redis::aio::ConnectionLike;
use redis::{Arg, Cmd, ErrorKind, Pipeline, PushInfo, PushKind, RedisError, RedisFuture, RedisResult, Value};

use super::Redis;
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
        let kept = lock(&self.kept);
        (kept.replies.len(), kept.bytes)
    }

    /// The reply kept for `request`, or the generation a read sent now
    /// must still find for its reply to be kept.
    fn recall(&self, request: &[u8]) -> Result<Value, u64> {
        let kept = lock(&self.kept);
        match kept.replies.get(request) {
            Some(reply) => {
                self.hits.inc();
                Ok(reply.value.clone())
            }
            None => {
                self.misses.inc();
                Err(kept.generation)
            }
        }
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
            let mut keys = Vec::new();
            for cmd in pipeline.cmd_iter() {
                keys.extend(read_keys(cmd)?);
            }
            let mut read = tracking_on();
            for cmd in pipeline.cmd_iter() {
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

/// The replies kept, and which keys each read.
struct Kept {
    replies: HashMap<Arc<[u8]>, Reply>,
    /// For each key read, the requests whose kept replies read it.
    readers: HashMap<Vec<u8>, HashSet<Arc<[u8]>>>,
    /// Moves on with every invalidation and every loss of the connection:
    /// a reply read before it moved may be stale, and is not kept.
    generation: u64,
    /// About what the replies take, and the most they may.
    bytes: usize,
    budget: usize,
}

struct Reply {
    value: Value,
    keys: Vec<Vec<u8>>,
    bytes: usize,
}

impl Kept {
    fn new(budget: usize) -> Kept {
        Kept { replies: HashMap::new(), readers: HashMap::new(), generation: 0, bytes: 0, budget }
    }

    /// Keeps `reply` to `request` if nothing was invalidated since the
    /// read was sent (at `generation`); an error is never kept.
    fn keep(&mut self, generation: u64, request: Arc<[u8]>, keys: Vec<Vec<u8>>, reply: Value) {
        let failed = |value: &Value| matches!(value, Value::ServerError(_));
        if generation != self.generation
            || failed(&reply)
            || matches!(&reply, Value::Array(replies) if replies.iter().any(failed))
        {
            return;
        }
        self.forget(&request);
        let bytes =
            ENTRY + request.len() + size(&reply) + keys.iter().map(|k| ENTRY + k.len()).sum::<usize>();
        if bytes > self.budget {
            return;
        }
        // Full: others go, whichever the map holds first (not the least
        // used: keeping that order would cost every hit a write).
        while self.bytes + bytes > self.budget
            && let Some(any) = self.replies.keys().next().cloned()
        {
            self.forget(&any);
        }
        for key in &keys {
            self.readers.entry(key.clone()).or_default().insert(request.clone());
        }
        self.bytes += bytes;
        self.replies.insert(request, Reply { value: reply, keys, bytes });
    }

    /// What Redis pushed, or the connection's loss (which the client
    /// pushes as `Disconnection`): Redis no longer remembers what was read.
    fn pushed(&mut self, push: PushInfo) {
        match push.kind {
            PushKind::Invalidate => {
                self.generation += 1;
                match push.data.first() {
                    Some(Value::Array(keys)) => {
                        for key in keys {
                            match key {
                                Value::BulkString(key) => self.invalidate(key),
                                Value::SimpleString(key) => self.invalidate(key.as_bytes()),
                                _ => {}
                            }
                        }
                    }
                    // A null after FLUSHALL or FLUSHDB: every key.
                    _ => self.clear(),
                }
            }
            PushKind::Disconnection => {
                self.generation += 1;
                self.clear();
            }
            _ => {}
        }
    }

    fn invalidate(&mut self, key: &[u8]) {
        for request in self.readers.remove(key).unwrap_or_default() {
            self.forget(&request);
        }
    }

    fn forget(&mut self, request: &Arc<[u8]>) {
        let Some(reply) = self.replies.remove(request) else { return };
        self.bytes -= reply.bytes;
        for key in &reply.keys {
            if let Some(readers) = self.readers.get_mut(key) {
                readers.remove(request);
                if readers.is_empty() {
                    self.readers.remove(key);
                }
            }
        }
    }

    fn clear(&mut self) {
        self.replies.clear();
        self.readers.clear();
        self.bytes = 0;
    }
}

/// What a map entry, a value or a set member costs beside its bytes, about.
const ENTRY: usize = 64;

/// About the memory `value` takes.
fn size(value: &Value) -> usize {
    ENTRY
        + match value {
            Value::BulkString(bytes) => bytes.len(),
            Value::SimpleString(text) => text.len(),
            Value::Array(values) | Value::Set(values) => values.iter().map(size).sum(),
            Value::Map(pairs) => pairs.iter().map(|(k, v)| size(k) + size(v)).sum(),
            _ => 0,
        }
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

    fn request(text: &str) -> Arc<[u8]> {
        text.as_bytes().into()
    }

    fn invalidate(keys: &[&str]) -> PushInfo {
        let keys = keys.iter().map(|k| Value::BulkString(k.as_bytes().to_vec())).collect();
        PushInfo { kind: PushKind::Invalidate, data: vec![Value::Array(keys)] }
    }

    #[test]
    fn an_invalidation_drops_every_reply_that_read_the_key_and_no_other() {
        let mut kept = Kept::new(1 << 20);
        kept.keep(0, request("page a"), vec![b"ready".to_vec(), b"listing".to_vec()], Value::Int(1));
        kept.keep(0, request("page b"), vec![b"ready".to_vec(), b"listing".to_vec()], Value::Int(2));
        kept.keep(0, request("flight"), vec![b"reply".to_vec()], Value::Int(3));
        kept.pushed(invalidate(&["listing"]));
        assert_eq!(kept.replies.len(), 1);
        assert!(kept.replies.contains_key(b"flight".as_slice()));
        // Nothing left pointing at the dropped pages.
        assert!(!kept.readers.contains_key(b"ready".as_slice()));
    }

    #[test]
    fn a_reply_read_across_an_invalidation_is_not_kept() {
        let mut kept = Kept::new(1 << 20);
        let sent_at = kept.generation;
        kept.pushed(invalidate(&["somewhere else"]));
        kept.keep(sent_at, request("flight"), vec![b"reply".to_vec()], Value::Int(1));
        assert!(kept.replies.is_empty());
        kept.keep(kept.generation, request("flight"), vec![b"reply".to_vec()], Value::Int(1));
        assert_eq!(kept.replies.len(), 1);
    }

    #[test]
    fn a_lost_connection_or_a_flush_drops_everything() {
        for push in [
            PushInfo { kind: PushKind::Disconnection, data: vec![] },
            PushInfo { kind: PushKind::Invalidate, data: vec![Value::Nil] },
        ] {
            let mut kept = Kept::new(1 << 20);
            kept.keep(0, request("flight"), vec![b"reply".to_vec()], Value::Int(1));
            kept.pushed(push);
            assert!(kept.replies.is_empty() && kept.readers.is_empty());
        }
    }

    #[test]
    fn memory_holds_no_more_than_its_budget() {
        let reply = Value::BulkString(vec![b'x'; 1_000]);
        let mut kept = Kept::new(10_000);
        for n in 0..100 {
            kept.keep(0, request(&format!("get {n}")), vec![format!("k{n}").into_bytes()], reply.clone());
        }
        assert!(kept.bytes <= 10_000, "{} bytes", kept.bytes);
        assert!(kept.replies.len() >= 8, "{} replies kept", kept.replies.len());
        assert_eq!(kept.readers.len(), kept.replies.len());
        assert_eq!(kept.bytes, kept.replies.values().map(|r| r.bytes).sum::<usize>());
        kept.keep(0, request("huge"), vec![b"h".to_vec()], Value::BulkString(vec![0; 20_000]));
        assert!(!kept.replies.contains_key(b"huge".as_slice()));
    }

    #[test]
    fn only_reads_of_named_keys_are_run() {
        assert_eq!(read_keys(redis::cmd("get").arg("a")).unwrap(), vec![b"a".to_vec()]);
        assert_eq!(read_keys(redis::cmd("EXISTS").arg("a").arg("b")).unwrap().len(), 2);
        assert!(read_keys(redis::cmd("SET").arg("a").arg(1)).is_err());
        assert!(read_keys(redis::cmd("EVALSHA").arg("x").arg(1).arg("a")).is_err());
    }
}
