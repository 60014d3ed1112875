//! The transactional outbox: events written with the command's own writes,
//! published to `K_SINK` after commit (by the process's [`Publisher`]), and
//! relayed later if that failed.

mod publisher;

pub use publisher::{Publisher, Sink};

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::cloudevent::encode_header_value;
use crate::db::Exec;
use crate::error::Result;
use crate::function::Ctx;

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

/// POSTs one event to the sink, with the extensions the platform asked for
/// (`K_CE_OVERRIDES`). Any 2xx is delivery; the broker owns it from there.
pub async fn send(
    client: &reqwest::Client,
    sink: &str,
    overrides: &BTreeMap<String, String>,
    event: &OutboxEvent,
) -> std::result::Result<(), String> {
    let mut request = client
        .post(sink)
        .header("ce-specversion", "1.0")
        .header("ce-id", event.event_id.to_string())
        .header("ce-source", &event.source)
        .header("ce-type", &event.ty)
        .header("ce-subject", &event.subject)
        .header("ce-time", event.created_at.to_rfc3339_opts(SecondsFormat::Micros, true))
        .header("content-type", "application/json")
        .body(event.data.to_string());
    for (name, value) in overrides {
        request = request.header(format!("ce-{name}"), encode_header_value(value));
    }
    if let Some(traceparent) = &event.traceparent {
        request = request.header("traceparent", traceparent);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("sink answered {}", response.status())),
        Err(e) => Err(format!("sink unreachable: {e}")),
    }
}

/// Records one attempt: published, or the error that kept it back.
async fn record(conn: Exec<'_>, event_id: Uuid, outcome: &std::result::Result<(), String>) -> Result<()> {
    match outcome {
        Ok(()) => {
            sqlx::query(
                "UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL
                 WHERE event_id = $1 AND published_at IS NULL",
            )
            .bind(event_id)
            .execute(conn)
            .await?
        }
        Err(error) => {
            sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE event_id = $1")
                .bind(event_id)
                .bind(error)
                .execute(conn)
                .await?
        }
    };
    Ok(())
}

/// What one relay pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RelayReport {
    pub published: u32,
    pub failed: u32,
}

/// Publishes rows left unsent for longer than `grace`, oldest first, at
/// most `batch` of them. Rows are locked with SKIP LOCKED, so relays running
/// at once never take the same row; a row another relay holds is skipped.
pub async fn relay(ctx: &Ctx, grace: Duration, batch: i64) -> Result<RelayReport> {
    let Some(sink) = ctx.settings().k_sink.clone() else {
        return Err(crate::Error::unavailable("sink_not_configured", "K_SINK is not set"));
    };
    let mut tx = ctx.db().begin().await?;
    let rows: Vec<OutboxEvent> = sqlx::query_as(
        "SELECT event_id, type, source, subject, data, traceparent, created_at
         FROM outbox
         WHERE published_at IS NULL AND created_at < now() - make_interval(secs => $1)
         ORDER BY created_at, event_id
         LIMIT $2
         FOR UPDATE SKIP LOCKED",
    )
    .bind(grace.as_secs_f64())
    .bind(batch)
    .fetch_all(tx.exec())
    .await?;
    let mut report = RelayReport::default();
    for event in &rows {
        let outcome = send(ctx.http(), &sink, &ctx.settings().k_ce_overrides, event).await;
        match &outcome {
            Ok(()) => report.published += 1,
            Err(error) => {
                report.failed += 1;
                tracing::warn!(event_id = %event.event_id, error, "relay: publish failed");
            }
        }
        record(tx.exec(), event.event_id, &outcome).await?;
    }
    tx.commit().await?;
    Ok(report)
}
