//! A command's shortcut: its write, its events and its reply committed in
//! one statement, with no transaction of the runtime's, when the command can
//! write without first reading under a lock. On any doubt it declines and
//! the command runs in its transaction ([`Tx`](super::Tx)), which decides.

use serde::Serialize;
use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::Query;
use uuid::Uuid;

use super::command::Key;
use super::tx::{Done, new_event, reply_to};
use super::{Ctx, Reply, Spec};
use crate::error::Result;
use crate::outbox::OutboxEvent;
use crate::outbox::one_statement::{self, Completed};
use crate::telemetry::trace_context::Parent;

/// A command's attempt to commit in one statement.
pub struct OneShot {
    ctx: Ctx,
    spec: Spec,
    key: Key,
    trace: Option<Parent>,
    events: Vec<OutboxEvent>,
}

impl OneShot {
    pub(super) fn new(ctx: Ctx, spec: Spec, key: Key, trace: Option<Parent>) -> OneShot {
        OneShot { ctx, spec, key, trace, events: Vec::new() }
    }

    /// The statement a shortcut commits: `write` (`WITH` clauses using `$1`
    /// to `$params`, the last named `written`, returning a row when it
    /// wrote), then the claim and the events, only if it wrote. Build it once.
    pub fn statement(write: &str, params: usize) -> String {
        one_statement::statement(write, params)
    }

    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    /// The key that makes this command idempotent, if the request had one.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.key.as_ref().map(|(key, _)| key.as_str())
    }

    /// Adds an event, written by the statement if it commits.
    pub fn emit(&mut self, ty: &str, subject: String, data: &impl Serialize) -> Result<Uuid> {
        let event = new_event(&self.spec, self.trace.as_ref(), ty, subject, data)?;
        let id = event.event_id;
        self.events.push(event);
        Ok(id)
    }

    /// Runs `query` (from [`statement`], the write's parameters bound) with
    /// `output` as the reply stored under the idempotency key and the
    /// events. `None` when it wrote nothing, or another request holds the
    /// key: the command then runs in its transaction, which tells why.
    pub async fn commit<O: Reply>(
        mut self,
        query: Query<'_, Postgres, PgArguments>,
        output: O,
    ) -> Result<Option<Done<O>>> {
        let Some(mut conn) = self.ctx.db().autocommit().await? else {
            return Ok(None);
        };
        let reply = reply_to(&self.spec, &output, &self.events)?;
        let completed = self.key.as_ref().map(|(key, request)| Completed {
            function: self.spec.name,
            key,
            request,
            reply: &reply,
        });
        if !one_statement::run(conn.exec(), query, completed, &mut self.events).await? {
            return Ok(None);
        }
        Ok(Some(Done::new(output, reply, self.events)))
    }
}
