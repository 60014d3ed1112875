//! What a tracked connection keeps: replies by their request, which keys
//! each read, and the generation that says whether a reply read a moment
//! ago may still be kept. No I/O: the connection feeds it replies and what
//! Redis pushes (`super::tracked`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use redis::{PushInfo, PushKind, Value};

/// The replies kept, and which keys each read.
pub(super) struct Kept {
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
    pub(super) fn new(budget: usize) -> Kept {
        Kept { replies: HashMap::new(), readers: HashMap::new(), generation: 0, bytes: 0, budget }
    }

    /// The reply kept for `request`, or the generation a read sent now
    /// must still find for its reply to be kept.
    pub(super) fn recall(&self, request: &[u8]) -> Result<Value, u64> {
        self.replies.get(request).map(|reply| reply.value.clone()).ok_or(self.generation)
    }

    /// How many replies are kept, and about how many bytes they take.
    pub(super) fn held(&self) -> (usize, usize) {
        (self.replies.len(), self.bytes)
    }

    /// Keeps `reply` to `request` if nothing was invalidated since the
    /// read was sent (at `generation`); an error is never kept.
    pub(super) fn keep(&mut self, generation: u64, request: Arc<[u8]>, keys: Vec<Vec<u8>>, reply: Value) {
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
    pub(super) fn pushed(&mut self, push: PushInfo) {
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
}
