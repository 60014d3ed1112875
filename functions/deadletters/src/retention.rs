//! Retention of dead letters: one replayed longer ago than the retention is
//! deleted; a pending one stays until an operator replays it.

use std::time::Duration;

use shared::Result;
use shared::db::Database;

/// Deletes replayed dead letters older than `days`, in batches within
/// `budget` (relay-outbox's tick runs it); returns how many.
pub async fn prune(db: &Database, days: u32, budget: Duration) -> Result<u64> {
    shared::db::retention::prune(
        db,
        "DELETE FROM dead_letters WHERE id IN (
             SELECT id FROM dead_letters
             WHERE status = 'replayed' AND replayed_at < now() - make_interval(days => $1)
             LIMIT $2)",
        days,
        budget,
    )
    .await
}
