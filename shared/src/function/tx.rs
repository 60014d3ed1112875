//! A command's transaction: its writes, its events in the outbox, and its
//! reply stored with its idempotency claim, committed together.

use chrono::{SubsecRound, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Ctx, Reply, Spec, reply_event};
use crate::cloudevent::ReplyEvent;
use crate::db::{Conn, Exec};
use crate::error::Result;
use crate::idempotency;
use crate::outbox::{self, OutboxEvent};
use crate::telemetry::trace_context::Parent;

/// A command's transaction. Everything the command writes goes through
/// [`Tx::conn`]; [`Tx::commit`] stores the reply beside the writes, so a
/// redelivered command is answered from the store and changes nothing.
pub struct Tx {
    tx: Conn,
    ctx: Ctx,
    spec: Spec,
    claim: Option<idempotency::Claim>,
    /// The context the command was called in.
    trace: Option<Parent>,
    events: Vec<OutboxEvent>,
}

/// A committed command's reply. Only [`Tx::commit`] and
/// [`OneShot::commit`](super::OneShot::commit) make one, so a command
/// handler cannot return without committing.
pub struct Done<O> {
    pub output: O,
    reply: ReplyEvent,
    events: Vec<OutboxEvent>,
}

impl Tx {
    pub(super) fn new(
        tx: Conn,
        ctx: Ctx,
        spec: Spec,
        claim: Option<idempotency::Claim>,
        trace: Option<Parent>,
    ) -> Tx {
        Tx { tx, ctx, spec, claim, trace, events: Vec::new() }
    }

    /// What runs the command's statements: `.execute(tx.conn())`.
    pub fn conn(&mut self) -> Exec<'_> {
        self.tx.exec()
    }

    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    /// The key that makes this command idempotent, if the request had one.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.claim.as_ref().map(idempotency::Claim::key)
    }

    /// Adds an event to the outbox in this transaction. It is published
    /// to the broker once the command commits, after the reply (and by the
    /// relay if that fails).
    pub async fn emit(&mut self, ty: &str, subject: String, data: &impl Serialize) -> Result<Uuid> {
        let event = new_event(&self.spec, self.trace.as_ref(), ty, subject, data)?;
        // Written at commit, with the reply: one round trip for both.
        let id = event.event_id;
        self.events.push(event);
        Ok(id)
    }

    /// Stores the reply with the idempotency claim and commits both with the
    /// command's writes.
    pub async fn commit<O: Reply>(mut self, output: O) -> Result<Done<O>> {
        let reply = reply_to(&self.spec, &output, &self.events)?;
        let completing = self.claim.as_ref().map(|claim| (claim, &reply));
        if !self.events.is_empty() {
            outbox::insert(self.tx.exec(), &mut self.events, completing).await?;
        } else if let Some(claim) = &self.claim {
            idempotency::complete(self.tx.exec(), claim, &reply).await?;
        }
        self.tx.commit().await?;
        Ok(Done { output, reply, events: self.events })
    }
}

impl<O> Done<O> {
    pub(super) fn new(output: O, reply: ReplyEvent, events: Vec<OutboxEvent>) -> Self {
        Done { output, reply, events }
    }

    /// The reply to send, and the events to publish once it is sent.
    pub(super) fn into_parts(self) -> (ReplyEvent, Vec<OutboxEvent>) {
        (self.reply, self.events)
    }
}

/// An event of `spec`'s, created now in the command's trace (untraced, the
/// caller's), to be written to the outbox with the command's writes.
pub(super) fn new_event(
    spec: &Spec,
    trace: Option<&Parent>,
    ty: &str,
    subject: String,
    data: &impl Serialize,
) -> Result<OutboxEvent> {
    // The spec is what the deployment routes by: an event it does not
    // name would reach no Trigger, and no EventType would describe it.
    if !spec.emits.contains(&ty) {
        return Err(anyhow::anyhow!("{} emits {ty}, which its spec does not name", spec.name).into());
    }
    let event_id = Uuid::now_v7();
    // The event is created here, in this command's trace: it carries
    // that context however late it is sent.
    let trace =
        crate::telemetry::trace_context::create_event(ty, &event_id.to_string()).or_else(|| trace.cloned());
    let (traceparent, tracestate) = trace.map_or((None, None), |t| (Some(t.traceparent), t.tracestate));
    Ok(OutboxEvent {
        event_id,
        seq: 0,
        ty: ty.to_owned(),
        source: spec.source.to_owned(),
        subject,
        data: serde_json::to_value(data).map_err(anyhow::Error::from)?,
        traceparent,
        tracestate,
        // PostgreSQL keeps microseconds: the event sent later by the
        // relay, and the reply, carry exactly this time.
        created_at: Utc::now().trunc_subsecs(6),
    })
}

/// A command's reply. One whose reply is the event it emitted (create-booking
/// answers with its skybook.booking.created) answers with that very event, id
/// and time included: should a Trigger route the reply, consumers see the
/// same source and id twice and count it once.
pub(super) fn reply_to<O: Reply>(spec: &Spec, output: &O, events: &[OutboxEvent]) -> Result<ReplyEvent> {
    let mut reply = reply_event(spec, output)?;
    if let Some(event) = events.iter().find(|e| e.ty == reply.ty && e.source == reply.source) {
        reply.id = event.event_id.to_string();
        reply.time = event.created_at;
    }
    Ok(reply)
}
