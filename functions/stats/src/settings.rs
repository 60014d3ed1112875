//! What the stats' functions read besides the runtime's settings.

use std::time::Duration;

shared::settings! {
    /// The stats slice's settings.
    pub struct StatsSettings {
        /// How long reconcile-stats lets events under way land before it
        /// compares Redis with PostgreSQL.
        stats_settle_ms: u64 = "5000",
    }
}

impl StatsSettings {
    pub fn stats_settle(&self) -> Duration {
        Duration::from_millis(self.stats_settle_ms)
    }
}
