//! list-dead-letters: the dead letters, oldest first, pending unless asked otherwise.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::auth::{Access, Role};
use shared::page::{Limit, Page, parse_time_cursor, time_cursor};
use shared::{Ctx, Function, Result, Spec};
use uuid::Uuid;

use crate::model::{COLUMNS, DeadLetter};

pub const SPEC: Spec = Spec::new("list-dead-letters", crate::SOURCE, Access::Roles(&[Role::Operator]))
    .accepts(&["skybook.deadletters.list"])
    .replies("skybook.deadletters.listed");

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    #[default]
    Pending,
    Replayed,
    All,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ListDeadLetters {
    pub status: StatusFilter,
    /// Only events of this ce-type.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub limit: Limit,
    pub cursor: Option<String>,
}

pub fn function() -> Function {
    Function::query(SPEC, list_dead_letters)
}

pub async fn list_dead_letters(ctx: Ctx, input: ListDeadLetters) -> Result<Page<DeadLetter>> {
    let after: Option<(DateTime<Utc>, Uuid)> = input.cursor.as_deref().map(parse_time_cursor).transpose()?;
    let status = match input.status {
        StatusFilter::Pending => Some("pending"),
        StatusFilter::Replayed => Some("replayed"),
        StatusFilter::All => None,
    };
    let rows: Vec<DeadLetter> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM dead_letters
         WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR event_type = $2)
           AND ($3::timestamptz IS NULL OR (received_at, id) > ($3, $4))
         ORDER BY received_at, id
         LIMIT $5"
    ))
    .bind(status)
    .bind(&input.event_type)
    .bind(after.map(|(time, _)| time))
    .bind(after.map(|(_, id)| id))
    .bind(input.limit.fetch())
    .fetch_all(ctx.db().read().await?.exec())
    .await?;
    Ok(Page::from_rows(rows, input.limit, |d| time_cursor(d.received_at, d.id)))
}
