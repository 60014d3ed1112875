//! A dead letter as stored and listed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::Reply;
use uuid::Uuid;

/// The columns every query of this slice reads.
pub const COLUMNS: &str = "id, event_source, event_id, event_type, error_dest, error_code, error_data, event,
     received_at, deliveries, status, replay_attempts, replayed_at, last_replay_error";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct DeadLetter {
    pub id: Uuid,
    pub event_source: String,
    pub event_id: String,
    pub event_type: String,
    /// The subscriber that refused it.
    pub error_dest: String,
    /// Its last HTTP status; none when it could not be reached.
    pub error_code: Option<i32>,
    /// What it answered, as text.
    pub error_data: Option<String>,
    /// The event as it was, structured mode.
    pub event: serde_json::Value,
    pub received_at: DateTime<Utc>,
    /// How many times the broker dead-lettered it.
    pub deliveries: i32,
    /// `pending`, or `replayed` once the broker took it back.
    pub status: String,
    pub replay_attempts: i32,
    pub replayed_at: Option<DateTime<Utc>>,
    pub last_replay_error: Option<String>,
}

impl Reply for DeadLetter {
    fn subject(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}
