//! The transactional outbox: events written with the command's own writes,
//! published to `K_SINK` after commit (by the process's [`Publisher`]), and
//! relayed later if that failed.

mod horizon;
mod publisher;
mod relay;
mod send;

pub use horizon::horizon;

pub use publisher::Publisher;
pub use relay::{METRICS as RELAY_METRICS, RelayReport, observe_backlog, prune, relay};
pub use send::{SendError, Sink, send};

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::db::Exec;
use crate::error::Result;
use crate::telemetry::trace_context::Parent;

/// Events sent to the sink, by path (`after_commit`: the command's process;
/// `relay`) and outcome (`published`, `failed`, `deferred`, `parked`).
pub(crate) static SENT: crate::metrics::Counters =
    crate::metrics::counters("events_sent", "Events sent to the broker, by path and outcome");

fn sent(path: &str, outcome: &str) {
    SENT.get_or_create(&crate::metrics::labels(&[("path", path), ("outcome", outcome)])).inc();
}

/// An event as stored in the outbox and sent, CloudEvents binary mode.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxEvent {
    pub event_id: Uuid,
    /// Its place in the outbox's one stream, sent as the CloudEvents
    /// `sequence` extension.
    pub seq: i64,
    #[sqlx(rename = "type")]
    pub ty: String,
    pub source: String,
    pub subject: String,
    pub data: serde_json::Value,
    /// The context the event was created in (its Distributed Tracing extension).
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl OutboxEvent {
    /// The trace context the event was created in, if it has one.
    pub fn trace(&self) -> Option<Parent> {
        Parent::read(|name| match name {
            "traceparent" => self.traceparent.clone(),
            "tracestate" => self.tracestate.clone(),
            _ => None,
        })
    }
}

/// Writes the event in the command's transaction: it exists if and only if
/// the command committed. Returns its place in the stream.
///
/// The transaction takes its id before the number is drawn (the
/// materialized CTE runs first): a number is then never held by a
/// transaction younger than it, which is what lets a consumer settle every
/// number below a horizon (see [`horizon`]).
pub async fn insert(conn: Exec<'_>, event: &OutboxEvent) -> Result<i64> {
    let seq = sqlx::query_scalar(
        "WITH tx AS MATERIALIZED (SELECT pg_current_xact_id())
         INSERT INTO outbox (seq, event_id, type, source, subject, data, traceparent, tracestate, created_at)
         SELECT nextval('outbox_seq'), $1, $2, $3, $4, $5, $6, $7, $8 FROM tx
         RETURNING seq",
    )
    .bind(event.event_id)
    .bind(&event.ty)
    .bind(&event.source)
    .bind(&event.subject)
    .bind(&event.data)
    .bind(&event.traceparent)
    .bind(&event.tracestate)
    .bind(event.created_at)
    .fetch_one(conn)
    .await?;
    Ok(seq)
}
