//! replay-dead-letters: sends dead letters back to the broker (one or more by
//! id, every pending one of a type, or every pending one), as they first
//! came, and records each outcome. Consumers drop what they already applied
//! by event id, so a replay never counts an event twice.

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use shared::auth::{Access, Role};
use shared::{Ctx, Error, Function, Reply, Result, Spec};
use uuid::Uuid;

use crate::model::{COLUMNS, DeadLetter};

pub const SPEC: Spec = Spec::new("replay-dead-letters", crate::SOURCE, Access::Roles(&[Role::Operator]))
    .accepts(&["skybook.deadletters.replay"])
    .replies("skybook.deadletters.replayed")
    .emits(&[shared::cloudevent::ANY_TYPE]);

/// Dead letters one call replays at most; call again for the rest.
pub const MAX_PER_CALL: i64 = 100;

/// Exactly one of `ids`, `type` or `all: true`.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayDeadLetters {
    pub ids: Option<Vec<Uuid>>,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    #[serde(default)]
    pub all: bool,
}

/// What to replay: named dead letters whatever their status, or the pending ones of a type, or all pending ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Ids(Vec<Uuid>),
    Type(String),
    AllPending,
}

impl TryFrom<ReplayDeadLetters> for Selection {
    type Error = Error;

    fn try_from(input: ReplayDeadLetters) -> Result<Self> {
        match (input.ids, input.event_type, input.all) {
            (Some(ids), None, false) if !ids.is_empty() && ids.len() as i64 <= MAX_PER_CALL => {
                Ok(Selection::Ids(ids))
            }
            (Some(_), None, false) => {
                Err(Error::malformed("invalid_data", format!("ids must hold 1 to {MAX_PER_CALL} ids")))
            }
            (None, Some(ty), false) if !ty.trim().is_empty() => Ok(Selection::Type(ty.trim().to_owned())),
            (None, None, true) => Ok(Selection::AllPending),
            _ => Err(Error::malformed(
                "invalid_data",
                "give exactly one of ids, type (not empty) or all: true",
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReplayReport {
    pub replayed: u32,
    pub failed: u32,
    /// Pending dead letters of the selection still left (more than one call holds).
    pub remaining: i64,
    pub results: Vec<ReplayResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReplayResult {
    pub id: Uuid,
    pub event_id: String,
    pub replayed: bool,
    pub error: Option<String>,
}

impl Reply for ReplayReport {}

pub fn function() -> Function {
    Function::command_in_steps(SPEC, replay_dead_letters)
}

/// How many letters one replay sends at once.
const CONCURRENT_SENDS: usize = 8;

/// How long a claimed letter stays out of other replays' reach: past every
/// send of one call (100 letters, 8 at a time, 2 s each at most), so only a
/// replay that died leaves letters leased, and only this long.
const LEASE: &str = "5 minutes";

/// Claims, sends and records in three steps, with no transaction open while
/// a letter is on its way (see [`Function::command_in_steps`]).
pub async fn replay_dead_letters(ctx: Ctx, input: ReplayDeadLetters) -> Result<ReplayReport> {
    let selection = Selection::try_from(input)?;
    let Some(sink) = ctx.sink() else {
        return Err(Error::unavailable("sink_not_configured", "K_SINK is not set: nowhere to replay to"));
    };
    let (ids, ty) = match &selection {
        Selection::Ids(ids) => (Some(ids.clone()), None),
        Selection::Type(ty) => (None, Some(ty.clone())),
        Selection::AllPending => (None, None),
    };
    // One short transaction: the letters no other replay holds, leased to this one.
    let mut claim = ctx.db().begin().await?;
    let letters: Vec<DeadLetter> = sqlx::query_as(&format!(
        "UPDATE dead_letters SET replay_attempts = replay_attempts + 1, leased_until = now() + $4::interval
         WHERE id IN (
             SELECT id FROM dead_letters
             WHERE CASE WHEN $1::uuid[] IS NOT NULL THEN id = ANY($1)
                        ELSE status = 'pending' AND ($2::text IS NULL OR event_type = $2) END
               AND (leased_until IS NULL OR leased_until < now())
             ORDER BY received_at, id
             LIMIT $3
             FOR UPDATE SKIP LOCKED)
         RETURNING {COLUMNS}"
    ))
    .bind(&ids)
    .bind(&ty)
    .bind(MAX_PER_CALL)
    .bind(LEASE)
    .fetch_all(claim.exec())
    .await?;
    claim.commit().await?;
    if let Selection::Ids(wanted) = &selection
        && let Some(missing) = wanted.iter().find(|id| !letters.iter().any(|l| l.id == **id))
    {
        tracing::info!(%missing, "a dead letter asked for is gone or being replayed");
    }

    // Signed again now: by the keys in use today, whatever signed it first.
    let keys = sink.keys.clone();
    let sends: Vec<_> = letters
        .iter()
        .map(|letter| {
            let mut event = letter.event.clone();
            if let Some(keys) = &keys {
                keys.sign_structured(&mut event);
            }
            let (http, url, id, event_id) =
                (sink.http.clone(), sink.url.clone(), letter.id, letter.event_id.clone());
            async move {
                let outcome = send(&http, &url, &event).await;
                ReplayResult { id, event_id, replayed: outcome.is_ok(), error: outcome.err() }
            }
        })
        .collect();
    let results: Vec<ReplayResult> =
        futures_util::stream::iter(sends).buffered(CONCURRENT_SENDS).collect().await;

    // Another records every outcome, ends the lease, and counts what is left.
    let done: Vec<Uuid> = results.iter().map(|r| r.id).collect();
    let replayed: Vec<bool> = results.iter().map(|r| r.replayed).collect();
    let errors: Vec<Option<&str>> = results.iter().map(|r| r.error.as_deref()).collect();
    let mut record = ctx.db().begin().await?;
    sqlx::query(
        "UPDATE dead_letters d SET
             status = CASE WHEN r.ok THEN 'replayed' ELSE d.status END,
             replayed_at = CASE WHEN r.ok THEN now() ELSE d.replayed_at END,
             last_replay_error = r.error,
             leased_until = NULL
         FROM unnest($1::uuid[], $2::bool[], $3::text[]) AS r(id, ok, error)
         WHERE d.id = r.id",
    )
    .bind(&done)
    .bind(&replayed)
    .bind(&errors)
    .execute(record.exec())
    .await?;
    // What is left of this selection, not of the whole store.
    let remaining: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM dead_letters
         WHERE status = 'pending'
           AND CASE WHEN $1::uuid[] IS NOT NULL THEN id = ANY($1) ELSE ($2::text IS NULL OR event_type = $2) END",
    )
    .bind(&ids)
    .bind(&ty)
    .fetch_one(record.exec())
    .await?;
    record.commit().await?;
    let replayed = results.iter().filter(|r| r.replayed).count() as u32;
    tracing::info!(replayed, failed = results.len() as u32 - replayed, remaining, "dead letters replayed");
    Ok(ReplayReport { replayed, failed: results.len() as u32 - replayed, remaining, results })
}

/// One event back to the broker, structured mode, as it was stored (signed anew).
async fn send(
    http: &reqwest::Client,
    sink: &reqwest::Url,
    event: &serde_json::Value,
) -> std::result::Result<(), String> {
    match http
        .post(sink.clone())
        .header("content-type", "application/cloudevents+json")
        .body(event.to_string())
        .send()
        .await
    {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("the broker answered {}", response.status())),
        Err(e) => Err(format!("the broker is unreachable: {e}")),
    }
}
