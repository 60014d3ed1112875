//! Retention: what expired is deleted in batches, each its own short
//! transaction (no lock held long, the pooler's connection given back
//! between batches), until none is left or the caller's budget is spent.
//! Each batch finds its rows by an index on their age, so a tick's work
//! follows what expired since the last tick, never the history kept.

use std::time::{Duration, Instant};

use super::Database;
use crate::error::Result;

/// Rows one statement deletes at most.
pub const BATCH: i64 = 5000;

/// Runs `delete` (a statement taking the retention in days as `$1` and the
/// batch size as `$2`, deleting at most that many rows) until it deletes
/// fewer than a batch or `budget` has passed. Returns the rows deleted.
pub async fn prune(db: &Database, delete: &'static str, days: u32, budget: Duration) -> Result<u64> {
    let started = Instant::now();
    let mut deleted = 0;
    loop {
        let mut tx = db.begin().await?;
        let batch =
            sqlx::query(delete).bind(days as i32).bind(BATCH).execute(tx.exec()).await?.rows_affected();
        tx.commit().await?;
        deleted += batch;
        if batch < BATCH as u64 || started.elapsed() >= budget {
            return Ok(deleted);
        }
    }
}
