//! The outbox's settled horizon: the number below which the stream can no
//! longer change, so a consumer may count what it has not seen there as
//! owed rather than wait for it.

use std::time::Duration;

use crate::db::Database;
use crate::error::Result;

/// How often the wait looks again at the transactions still open.
const POLL: Duration = Duration::from_millis(20);

/// The highest number `h` such that every outbox row numbered `<= h` is
/// committed, and so visible to any snapshot taken after this returns, or
/// will never exist (its transaction rolled back). `None` if a transaction
/// that was open at the reading is still open after `wait`.
///
/// A row's number is drawn after its transaction took an id (see
/// [`super::insert`]). This reading takes an id of its own after reading
/// `last_value`: every transaction that holds a number at or below it has
/// an older id, so once no transaction older than ours is open, nothing at
/// or below `last_value` is still being written. (A snapshot's `xmax` would
/// not do: it is one past the newest *completed* id, and a younger open
/// transaction may hold a number.)
pub async fn horizon(db: &Database, wait: Duration) -> Result<Option<i64>> {
    let mut conn = db.read().await?;
    // Two statements, in this order.
    let (last, called): (i64, bool) =
        sqlx::query_as("SELECT last_value, is_called FROM outbox_seq").fetch_one(conn.exec()).await?;
    let ours: i64 =
        sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint").fetch_one(conn.exec()).await?;
    conn.commit().await?;
    let settled = if called { last } else { last - 1 };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let mut conn = db.read().await?;
        let oldest_open: i64 =
            sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
                .fetch_one(conn.exec())
                .await?;
        conn.commit().await?;
        if oldest_open > ours {
            return Ok(Some(settled));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL).await;
    }
}
