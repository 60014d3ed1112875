//! The relay: what the after-commit send left behind, published later with
//! a lease and a back-off per row; and the outbox's retention and backlog.

use std::time::Duration;

use sqlx::FromRow;
use uuid::Uuid;

use super::{OutboxEvent, SendError, Sink, send, sent};
use crate::db::Database;
use crate::error::Result;

/// What relay-outbox reports of the outbox: its function names them.
pub const METRICS: &[&dyn crate::metrics::Registered] = &[&BACKLOG, &OLDEST];
pub(crate) static BACKLOG: crate::metrics::Gauges = crate::metrics::gauges(
    "outbox_backlog",
    "Outbox rows not yet published, by state (pending, parked), when relay-outbox last looked",
);
pub(crate) static OLDEST: crate::metrics::Gauges = crate::metrics::gauges(
    "outbox_oldest_pending_age_seconds",
    "Age of the oldest outbox row still to publish, when relay-outbox last looked (0: none)",
);

/// What is left in the outbox: rows to publish, rows parked for an operator,
/// and how old the oldest to publish is (seconds; 0 when there is none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backlog {
    pub pending: i64,
    pub parked: i64,
    pub oldest_pending_secs: f64,
}

/// How [`backlog`] reads the backlog: each part through its own partial index
/// (`outbox_due_idx`, `outbox_parked_idx`), so a tick reads the backlog and
/// never the published rows kept for retention, days of bookings.
pub const COUNT_BACKLOG: &str = "SELECT p.pending,
            (SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NOT NULL),
            COALESCE(extract(epoch FROM now() - p.oldest), 0)::float8
     FROM (SELECT count(*) AS pending, min(created_at) AS oldest
           FROM outbox WHERE published_at IS NULL AND parked_at IS NULL) p";

/// The outbox's backlog, as [`COUNT_BACKLOG`] reads it.
pub async fn backlog(db: &Database) -> Result<Backlog> {
    let mut conn = db.read().await?;
    let (pending, parked, oldest_pending_secs) = sqlx::query_as(COUNT_BACKLOG).fetch_one(conn.exec()).await?;
    Ok(Backlog { pending, parked, oldest_pending_secs })
}

/// Counts what is left to publish, and how old the oldest of it is, into the backlog gauges.
pub async fn observe_backlog(db: &Database) -> Result<()> {
    let backlog = backlog(db).await?;
    BACKLOG.get_or_create(&crate::metrics::labels(&[("state", "pending")])).set(backlog.pending);
    BACKLOG.get_or_create(&crate::metrics::labels(&[("state", "parked")])).set(backlog.parked);
    OLDEST.get_or_create(&Vec::new()).set(backlog.oldest_pending_secs as i64);
    Ok(())
}

/// What one relay pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RelayReport {
    /// Rows the pass took on: at most its batch.
    pub claimed: u32,
    pub published: u32,
    /// Failed for now; tried again after a back-off of their own.
    pub deferred: u32,
    /// Refused by the sink as malformed; kept, with the error, for an operator.
    pub parked: u32,
}

/// How long a relay may hold rows it claimed before another may take them.
const LEASE: Duration = Duration::from_secs(300);
/// Sends one relay pass makes at once.
const CONCURRENT_SENDS: usize = 16;
/// The longest a failing row waits before its next try.
const MAX_BACKOFF_SECS: f64 = 300.0;

/// Publishes due rows left unsent for longer than `grace`, at most `batch`.
///
/// Rows are claimed in one short transaction (SKIP LOCKED, then leased by
/// moving their `next_attempt_at`), sent with no transaction open, and each
/// recorded on its own terms: published; deferred with a back-off that
/// doubles per attempt up to five minutes; or parked if the sink refuses it
/// as malformed. So failing rows never sort ahead of the rest, and a poison
/// row is tried once and set aside.
pub async fn relay(db: &Database, sink: &Sink, grace: Duration, batch: i64) -> Result<RelayReport> {
    let mut tx = db.begin().await?;
    let mut rows: Vec<Claimed> = sqlx::query_as(
        "UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $3), attempts = attempts + 1
         WHERE event_id IN (
             SELECT event_id FROM outbox
             WHERE published_at IS NULL AND parked_at IS NULL AND next_attempt_at <= now()
               AND created_at < now() - make_interval(secs => $1)
             ORDER BY next_attempt_at, event_id
             LIMIT $2
             FOR UPDATE SKIP LOCKED)
         RETURNING event_id, seq, type, source, subject, data, traceparent, tracestate, created_at, attempts",
    )
    .bind(grace.as_secs_f64())
    .bind(batch)
    .bind(LEASE.as_secs_f64())
    .fetch_all(tx.exec())
    .await?;
    tx.commit().await?;
    rows.sort_by_key(|row| (row.event.created_at, row.event.event_id));

    let mut outcomes: Vec<(Uuid, i32, std::result::Result<(), SendError>)> = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(CONCURRENT_SENDS) {
        let mut sends = tokio::task::JoinSet::new();
        for row in chunk {
            let (sink, event, attempts) = (sink.clone(), row.event.clone(), row.attempts);
            sends.spawn(async move {
                let outcome = send(&sink, &event, "relay").await;
                (event.event_id, attempts, outcome)
            });
        }
        // A send that panicked leaves its row leased: it is tried again after the lease.
        while let Some(joined) = sends.join_next().await {
            if let Ok(outcome) = joined {
                outcomes.push(outcome);
            }
        }
    }

    let mut report = RelayReport { claimed: rows.len() as u32, ..RelayReport::default() };
    let mut tx = db.begin().await?;
    for (event_id, attempts, outcome) in &outcomes {
        match outcome {
            Ok(()) => {
                report.published += 1;
                sent("relay", "published");
                sqlx::query(
                    "UPDATE outbox SET published_at = now(), last_error = NULL
                     WHERE event_id = $1 AND published_at IS NULL",
                )
                .bind(event_id)
                .execute(tx.exec())
                .await?;
            }
            Err(error) if error.poison => {
                report.parked += 1;
                sent("relay", "parked");
                tracing::error!(%event_id, %error, "relay: the sink refuses this event; parked");
                sqlx::query("UPDATE outbox SET parked_at = now(), last_error = $2 WHERE event_id = $1")
                    .bind(event_id)
                    .bind(&error.message)
                    .execute(tx.exec())
                    .await?;
            }
            Err(error) => {
                report.deferred += 1;
                sent("relay", "deferred");
                let backoff = 2f64.powi((*attempts - 1).clamp(0, 16)).min(MAX_BACKOFF_SECS);
                tracing::warn!(%event_id, %error, backoff_secs = backoff, "relay: publish failed; deferred");
                sqlx::query(
                    "UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $3), last_error = $2
                     WHERE event_id = $1",
                )
                .bind(event_id)
                .bind(&error.message)
                .bind(backoff)
                .execute(tx.exec())
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(report)
}

/// A row a relay pass claimed.
#[derive(Debug, FromRow)]
struct Claimed {
    #[sqlx(flatten)]
    event: OutboxEvent,
    attempts: i32,
}

/// Deletes published rows older than `days`, in batches within `budget`;
/// returns how many (see [`crate::db::retention`]).
pub async fn prune(db: &Database, days: u32, budget: std::time::Duration) -> Result<u64> {
    crate::db::retention::prune(
        db,
        "DELETE FROM outbox WHERE event_id IN (
             SELECT event_id FROM outbox
             WHERE published_at < now() - make_interval(days => $1)
             LIMIT $2)",
        days,
        budget,
    )
    .await
}
