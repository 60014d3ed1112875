//! What relay-outbox reads besides the runtime's settings.

use std::time::Duration;

shared::settings! {
    /// The outbox slice's settings.
    pub struct OutboxSettings {
        /// The relay leaves rows younger than this to the command that wrote them.
        outbox_grace_ms: u64 = "10000",
        /// Rows one relay pass publishes at most.
        outbox_batch: i64 = "100",
        /// Days published outbox rows, idempotency keys and replayed dead
        /// letters are kept: at least the longest a delivery is retried, so
        /// a redelivered command still finds its key.
        retention_days: u32 = "8",
    }
}

impl OutboxSettings {
    pub fn outbox_grace(&self) -> Duration {
        Duration::from_millis(self.outbox_grace_ms)
    }
}
