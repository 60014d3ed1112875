//! A command's write, its events and its idempotency claim with its reply as
//! one statement that commits by itself: one round trip where a transaction
//! takes six (BEGIN, the claim, a read under lock, the write, the outbox,
//! COMMIT), for a command that can write without reading first.

use sqlx::Row;
use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::Query;
use uuid::Uuid;

use super::OutboxEvent;
use crate::cloudevent::ReplyEvent;
use crate::db::Exec;

/// The claim a command's statement stores, reply and all.
pub struct Completed<'a> {
    pub function: &'static str,
    pub key: &'a str,
    pub request: &'a serde_json::Value,
    pub reply: &'a ReplyEvent,
}

/// The statement around `write`: `WITH` clauses using parameters `$1` to
/// `$params`, the last named `written`, whose rows say it wrote. Only if it
/// did are the claim (with its reply) and the events stored, numbered as
/// [`super::insert`] numbers them: the transaction's id taken first.
pub fn statement(write: &str, params: usize) -> String {
    let p = |i: usize| format!("${}", params + i);
    let (function, key, request, reply) = (p(1), p(2), p(3), p(4));
    let events = (5..=12).map(p).collect::<Vec<_>>();
    format!(
        "WITH {write},
              tx AS MATERIALIZED (SELECT pg_current_xact_id() FROM written LIMIT 1),
              claimed AS (INSERT INTO idempotency (function, key, request, reply)
                          SELECT {function}::text, {key}::text, {request}::jsonb, {reply}::jsonb FROM tx
                          WHERE {key}::text IS NOT NULL),
              sent AS (INSERT INTO outbox (seq, event_id, type, source, subject, data, traceparent,
                                           tracestate, created_at)
                       SELECT nextval('outbox_seq'), e.* FROM tx,
                              unnest({}::uuid[], {}::text[], {}::text[], {}::text[], {}::jsonb[],
                                     {}::text[], {}::text[], {}::timestamptz[])
                                AS e(event_id, type, source, subject, data, traceparent, tracestate, created_at)
                       RETURNING event_id, seq)
         SELECT (SELECT count(*) FROM written) AS wrote, sent.event_id, sent.seq
         FROM (VALUES (1)) AS one (x) LEFT JOIN sent ON true",
        events[0], events[1], events[2], events[3], events[4], events[5], events[6], events[7],
    )
}

/// Runs `query` (a [`statement`] with its write's parameters bound), binding
/// the claim and the events. Whether it wrote: not if its write matched no
/// row, nor if another request holds a key it inserts (a unique violation:
/// the command's transaction, which waits for that one, then tells which).
/// When it did, each event has its place in the stream.
pub async fn run(
    conn: Exec<'_>,
    query: Query<'_, Postgres, PgArguments>,
    completed: Option<Completed<'_>>,
    events: &mut [OutboxEvent],
) -> Result<bool, sqlx::Error> {
    let column = |f: fn(&OutboxEvent) -> Option<String>| events.iter().map(f).collect::<Vec<_>>();
    let query = query
        .bind(completed.as_ref().map(|c| c.function))
        .bind(completed.as_ref().map(|c| c.key.to_owned()))
        .bind(completed.as_ref().map(|c| c.request.clone()))
        .bind(completed.as_ref().map(|c| sqlx::types::Json(c.reply.clone())))
        .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
        .bind(column(|e| Some(e.ty.clone())))
        .bind(column(|e| Some(e.source.clone())))
        .bind(column(|e| Some(e.subject.clone())))
        .bind(events.iter().map(|e| e.data.clone()).collect::<Vec<_>>())
        .bind(column(|e| e.traceparent.clone()))
        .bind(column(|e| e.tracestate.clone()))
        .bind(events.iter().map(|e| e.created_at).collect::<Vec<_>>());
    let rows = match query.fetch_all(conn).await {
        Ok(rows) => rows,
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut wrote = false;
    for row in rows {
        wrote = row.try_get::<i64, _>("wrote")? > 0;
        let placed = (row.try_get::<Option<Uuid>, _>("event_id")?, row.try_get("seq")?);
        if let (Some(id), Some(seq)) = placed
            && let Some(event) = events.iter_mut().find(|e| e.event_id == id)
        {
            event.seq = seq;
        }
    }
    Ok(wrote)
}
