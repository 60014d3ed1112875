//! The transactional outbox: events written with the command's own writes,
//! published to `K_SINK` after commit (by the process's [`Publisher`]), and
//! relayed later if that failed.

mod horizon;
pub mod one_statement;
mod publisher;
mod relay;
mod send;

pub use horizon::horizon;

pub use publisher::Publisher;
pub use relay::{
    Backlog, COUNT_BACKLOG, METRICS as RELAY_METRICS, RelayReport, backlog, observe_backlog, prune, relay,
};
pub use send::{SendError, Sink, send};

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::cloudevent::ReplyEvent;
use crate::db::Exec;
use crate::error::Result;
use crate::idempotency::Claim;
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

/// Writes the events in the command's transaction, and completes its
/// idempotency claim with its reply in the same statement (one round trip
/// for what the command leaves behind): they exist if and only if the
/// command committed. Sets each event's place in the stream.
///
/// The transaction takes its id before the numbers are drawn (the
/// materialized CTE runs first): a number is then never held by a
/// transaction younger than it, which is what lets a consumer settle every
/// number below a horizon (see [`horizon`]).
pub async fn insert(
    conn: Exec<'_>,
    events: &mut [OutboxEvent],
    completing: Option<(&Claim, &ReplyEvent)>,
) -> Result<()> {
    let column = |f: fn(&OutboxEvent) -> Option<String>| events.iter().map(f).collect::<Vec<_>>();
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let data: Vec<&serde_json::Value> = events.iter().map(|e| &e.data).collect();
    let times: Vec<DateTime<Utc>> = events.iter().map(|e| e.created_at).collect();
    let (function, key) = completing.map(|(claim, _)| claim.parts()).unzip();
    // Without a claim the update names no row (`function = NULL` never holds).
    let placed: Vec<(Uuid, i64)> = sqlx::query_as(
        "WITH tx AS MATERIALIZED (SELECT pg_current_xact_id()),
              completed AS (UPDATE idempotency SET reply = $9 WHERE function = $10 AND key = $11)
         INSERT INTO outbox (seq, event_id, type, source, subject, data, traceparent, tracestate, created_at)
         SELECT nextval('outbox_seq'), e.* FROM tx,
                unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::text[],
                       $8::timestamptz[])
                  AS e(event_id, type, source, subject, data, traceparent, tracestate, created_at)
         RETURNING event_id, seq",
    )
    .bind(&ids)
    .bind(column(|e| Some(e.ty.clone())))
    .bind(column(|e| Some(e.source.clone())))
    .bind(column(|e| Some(e.subject.clone())))
    .bind(&data)
    .bind(column(|e| e.traceparent.clone()))
    .bind(column(|e| e.tracestate.clone()))
    .bind(&times)
    .bind(completing.map(|(_, reply)| sqlx::types::Json(reply)))
    .bind(function)
    .bind(key)
    .fetch_all(conn)
    .await?;
    for (id, seq) in placed {
        if let Some(event) = events.iter_mut().find(|e| e.event_id == id) {
            event.seq = seq;
        }
    }
    Ok(())
}
