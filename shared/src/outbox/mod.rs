//! The transactional outbox: events written with the command's own writes,
//! published to `K_SINK` after commit (by the process's [`Publisher`]), and
//! relayed later if that failed.

mod publisher;

pub use publisher::{Publisher, Sink};

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use opentelemetry::KeyValue;
use sqlx::FromRow;
use tracing::Instrument;
use uuid::Uuid;

use crate::cloudevent::headers::encode;
use crate::db::Exec;
use crate::error::Result;
use crate::function::Ctx;
use crate::telemetry::trace_context;

/// Events sent to the sink, by path (`after_commit`: the command's process;
/// `relay`) and outcome (`published`, `failed`, `deferred`, `parked`).
static SENT: std::sync::LazyLock<crate::metrics::CounterFamily> = std::sync::LazyLock::new(|| {
    crate::metrics::counter_family("events_sent", "Events sent to the broker, by path and outcome")
});

fn sent(path: &str, outcome: &str) {
    SENT.get_or_create(&crate::metrics::labels(&[("path", path), ("outcome", outcome)])).inc();
}

static BACKLOG: std::sync::LazyLock<crate::metrics::GaugeFamily> = std::sync::LazyLock::new(|| {
    crate::metrics::gauge_family(
        "outbox_backlog",
        "Outbox rows not yet published, by state (pending, parked), when relay-outbox last looked",
    )
});
static OLDEST: std::sync::LazyLock<crate::metrics::GaugeFamily> = std::sync::LazyLock::new(|| {
    crate::metrics::gauge_family(
        "outbox_oldest_pending_age_seconds",
        "Age of the oldest outbox row still to publish, when relay-outbox last looked (0: none)",
    )
});

/// Counts what is left to publish, and how old the oldest of it is, into the backlog gauges.
pub async fn observe_backlog(ctx: &Ctx) -> Result<()> {
    let mut tx = ctx.db().read().await?;
    let (pending, parked, oldest): (i64, i64, f64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE parked_at IS NULL), count(parked_at),
                COALESCE(extract(epoch FROM now() - min(created_at) FILTER (WHERE parked_at IS NULL)), 0)::float8
         FROM outbox WHERE published_at IS NULL",
    )
    .fetch_one(tx.exec())
    .await?;
    BACKLOG.get_or_create(&crate::metrics::labels(&[("state", "pending")])).set(pending);
    BACKLOG.get_or_create(&crate::metrics::labels(&[("state", "parked")])).set(parked);
    OLDEST.get_or_create(&Vec::new()).set(oldest as i64);
    Ok(())
}

/// An event as stored in the outbox and sent, CloudEvents binary mode.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxEvent {
    pub event_id: Uuid,
    #[sqlx(rename = "type")]
    pub ty: String,
    pub source: String,
    pub subject: String,
    pub data: serde_json::Value,
    pub traceparent: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Writes the event in the command's transaction: it exists if and only if
/// the command committed.
pub async fn insert(conn: Exec<'_>, event: &OutboxEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (event_id, type, source, subject, data, traceparent, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(event.event_id)
    .bind(&event.ty)
    .bind(&event.source)
    .bind(&event.subject)
    .bind(&event.data)
    .bind(&event.traceparent)
    .bind(event.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub message: String,
    /// The sink refused the event itself (a 4xx other than those that pass
    /// with time): sending it again will fail the same way.
    pub poison: bool,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// POSTs one event to the sink, with the extensions the platform asked for
/// (`K_CE_OVERRIDES`). Any 2xx is delivery; the broker owns it from there.
///
/// The send is a client span in the event's own trace (the one it was
/// created in), whichever `path` sends it: the after-commit publisher, or
/// the relay much later. The event keeps its creation context as its
/// `traceparent` extension; the `traceparent` header is this hop's.
pub async fn send(
    client: &reqwest::Client,
    sink: &str,
    overrides: &BTreeMap<String, String>,
    event: &OutboxEvent,
    path: &'static str,
) -> std::result::Result<(), SendError> {
    let span =
        tracing::info_span!("send_event", otel.name = tracing::field::Empty, otel.kind = "client", path);
    trace_context::continue_traceparent(&span, event.traceparent.as_deref());
    trace_context::set_name(&span, || format!("send {}", event.ty));
    trace_context::set_attributes(&span, || {
        vec![
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("url.full", sink.to_owned()),
            KeyValue::new("cloudevents.event_id", event.event_id.to_string()),
            KeyValue::new("cloudevents.event_type", event.ty.clone()),
            KeyValue::new("skybook.outbox.path", path),
        ]
    });
    let mut request = client
        .post(sink)
        .header("ce-specversion", "1.0")
        .header("ce-id", event.event_id.to_string())
        .header("ce-source", encode(&event.source))
        .header("ce-type", encode(&event.ty))
        .header("ce-subject", encode(&event.subject))
        .header("ce-time", event.created_at.to_rfc3339_opts(SecondsFormat::Micros, true))
        .header("ce-dataschema", encode(&crate::contract::id(&event.ty)))
        .header("content-type", "application/json")
        .body(event.data.to_string());
    for (name, value) in overrides {
        request = request.header(format!("ce-{name}"), encode(value));
    }
    if let Some(traceparent) = &event.traceparent {
        request = request.header("ce-traceparent", traceparent);
    }
    let hop = trace_context::headers_of(&span);
    match (hop.is_empty(), &event.traceparent) {
        (false, _) => request = request.headers(hop),
        (true, Some(traceparent)) => request = request.header("traceparent", traceparent),
        (true, None) => {}
    }
    let outcome = match request.send().instrument(span.clone()).await {
        Ok(response) if response.status().is_success() => Ok(response.status().as_u16()),
        Ok(response) => {
            let code = response.status().as_u16();
            let poison = (400..500).contains(&code) && !crate::cloudevent::retryable(code);
            Err((code, SendError { message: format!("sink answered {}", response.status()), poison }))
        }
        Err(e) => Err((0, SendError { message: format!("sink unreachable: {e}"), poison: false })),
    };
    let code = match &outcome {
        Ok(code) | Err((code, _)) => *code,
    };
    trace_context::record_status(&span, code, false);
    outcome.map(|_| ()).map_err(|(_, error)| error)
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
pub async fn relay(ctx: &Ctx, grace: Duration, batch: i64) -> Result<RelayReport> {
    let Some(sink) = ctx.settings().k_sink.clone() else {
        return Err(crate::Error::unavailable("sink_not_configured", "K_SINK is not set"));
    };
    let mut tx = ctx.db().begin().await?;
    let mut rows: Vec<Claimed> = sqlx::query_as(
        "UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $3), attempts = attempts + 1
         WHERE event_id IN (
             SELECT event_id FROM outbox
             WHERE published_at IS NULL AND parked_at IS NULL AND next_attempt_at <= now()
               AND created_at < now() - make_interval(secs => $1)
             ORDER BY next_attempt_at, event_id
             LIMIT $2
             FOR UPDATE SKIP LOCKED)
         RETURNING event_id, type, source, subject, data, traceparent, created_at, attempts",
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
            let (http, sink, overrides) =
                (ctx.http().clone(), sink.clone(), ctx.settings().k_ce_overrides.clone());
            let (event, attempts) = (row.event.clone(), row.attempts);
            sends.spawn(async move {
                let outcome = send(&http, &sink, &overrides, &event, "relay").await;
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
    let mut tx = ctx.db().begin().await?;
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

/// Rows deleted at most per statement, so retention never holds locks long.
const PRUNE_BATCH: i64 = 5000;

/// Deletes published rows older than `days` (a batch of them); returns how many.
pub async fn prune(ctx: &Ctx, days: u32) -> Result<u64> {
    let mut tx = ctx.db().begin().await?;
    let deleted = sqlx::query(
        "DELETE FROM outbox WHERE event_id IN (
             SELECT event_id FROM outbox
             WHERE published_at < now() - make_interval(days => $1)
             LIMIT $2)",
    )
    .bind(days as i32)
    .bind(PRUNE_BATCH)
    .execute(tx.exec())
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(deleted)
}

/// Registers this module's metrics, so /metrics shows them before they first move.
pub(crate) fn register_metrics() {
    std::sync::LazyLock::force(&SENT);
    std::sync::LazyLock::force(&BACKLOG);
    std::sync::LazyLock::force(&OLDEST);
}
