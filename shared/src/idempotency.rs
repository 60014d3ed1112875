//! Exactly-once commands: a claim on (function, key) taken in the command's
//! own transaction, completed with the reply in that same transaction.
//!
//! A second delivery of the same key blocks on the first one's claim until
//! it commits, then reads its reply; if the first rolls back, the second
//! takes the claim and runs. So N concurrent deliveries run the command once
//! and all answer the same bytes.

use crate::cloudevent::ReplyEvent;
use crate::db::{Conn, Exec};
use crate::error::{Error, Result};

/// The key a command is remembered by: the request's own key (a
/// CloudEvent's source and id, or its `Idempotency-Key`), scoped to the
/// caller, so one caller's key never answers another with its reply; hashed
/// over length-prefixed parts, so no two different pairs meet and any
/// length fits the index.
pub fn scoped_key(caller: Option<&str>, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let caller = caller.unwrap_or_default();
    let mut hash = Sha256::new();
    hash.update((caller.len() as u64).to_be_bytes());
    hash.update(caller.as_bytes());
    hash.update(key.as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub struct Claim {
    function: &'static str,
    key: String,
}

impl Claim {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The function and the scoped key, as the table holds them.
    pub(crate) fn parts(&self) -> (&'static str, &str) {
        (self.function, &self.key)
    }
}

pub enum Outcome {
    Claimed(Claim),
    Replay(Box<ReplyEvent>),
}

pub async fn claim(
    tx: &mut Conn,
    function: &'static str,
    key: &str,
    request: &serde_json::Value,
) -> Result<Outcome> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency (function, key, request) VALUES ($1, $2, $3)
         ON CONFLICT (function, key) DO NOTHING",
    )
    .bind(function)
    .bind(key)
    .bind(request)
    .execute(tx.exec())
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Outcome::Claimed(Claim { function, key: key.to_owned() }));
    }
    let (stored_request, reply): (serde_json::Value, sqlx::types::Json<ReplyEvent>) =
        sqlx::query_as("SELECT request, reply FROM idempotency WHERE function = $1 AND key = $2")
            .bind(function)
            .bind(key)
            .fetch_one(tx.exec())
            .await?;
    if &stored_request != request {
        return Err(Error::rule(
            "idempotency_key_reused",
            "this event id (or Idempotency-Key) was already used for a different request",
        ));
    }
    Ok(Outcome::Replay(Box::new(reply.0)))
}

pub async fn complete(conn: Exec<'_>, claim: &Claim, reply: &ReplyEvent) -> Result<()> {
    sqlx::query("UPDATE idempotency SET reply = $3 WHERE function = $1 AND key = $2")
        .bind(claim.function)
        .bind(&claim.key)
        .bind(sqlx::types::Json(reply))
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes claims older than `days`, in batches within `budget`: a command
/// delivered again after that runs again. Returns how many.
pub async fn prune(db: &crate::db::Database, days: u32, budget: std::time::Duration) -> Result<u64> {
    crate::db::retention::prune(
        db,
        "DELETE FROM idempotency WHERE (function, key) IN (
             SELECT function, key FROM idempotency
             WHERE created_at < now() - make_interval(days => $1)
             LIMIT $2)",
        days,
        budget,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::scoped_key;

    #[test]
    fn keys_are_scoped_to_their_caller_and_never_collide_by_concatenation() {
        assert_eq!(scoped_key(Some("ana"), "ce:1:/a"), scoped_key(Some("ana"), "ce:1:/a"));
        assert_ne!(scoped_key(Some("ana"), "k"), scoped_key(Some("bob"), "k"));
        assert_ne!(scoped_key(Some("an"), "ak"), scoped_key(Some("ana"), "k"));
        assert_ne!(scoped_key(None, "k"), scoped_key(Some(""), "kk"));
        assert_eq!(scoped_key(None, &"x".repeat(10_000)).len(), 64);
    }
}
