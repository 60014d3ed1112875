//! How a command runs: its idempotency key claimed and its handler called in
//! one transaction, after its shortcut (one statement) when it has one and
//! the shortcut declined.

use std::future::Future;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{BoxFuture, Ctx, Done, Function, Kind, OneShot, Reply, Spec, Tx};
use crate::cloudevent::{Incoming, ReplyEvent};
use crate::contract::{Contract, schema_for};
use crate::error::Result;
use crate::idempotency;
use crate::metrics::labels;
use crate::telemetry::trace_context::Parent;

pub(crate) static REPLAYS: crate::metrics::Counters = crate::metrics::counters(
    "idempotent_replays",
    "Commands delivered again and answered with their first reply, unexecuted, by function",
);

/// Commands with a shortcut, by function and outcome: `committed` in one
/// statement, or `declined` to their transaction.
pub(crate) static SHORTCUTS: crate::metrics::Counters = crate::metrics::counters(
    "commands_in_one_statement",
    "Commands with a shortcut, by function and whether one statement committed them or their transaction ran",
);

/// The scoped idempotency key and the request stored with it.
pub(super) type Key = Option<(String, serde_json::Value)>;

impl Function {
    /// A command: runs in one transaction with its idempotency claim; a
    /// command seen before is answered with its first reply, unexecuted.
    pub fn command<I, O, F, Fut>(spec: Spec, handler: F) -> Self
    where
        I: DeserializeOwned + Serialize + JsonSchema + Send + 'static,
        O: Reply + JsonSchema + Send + 'static,
        F: Fn(Tx, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Done<O>>> + Send + 'static,
    {
        let _ = REPLAYS.get_or_create(&labels(&[("function", spec.name)]));
        let handler = Arc::new(handler);
        let invoke = move |ctx: Ctx, incoming: Incoming| -> BoxFuture<Result<Option<ReplyEvent>>> {
            let handler = handler.clone();
            Box::pin(async move {
                let input: I = incoming.decode()?;
                let key = key(&ctx, &incoming, &input)?;
                in_transaction(ctx, spec, incoming.trace, key, input, &*handler).await.map(Some)
            })
        };
        Self::of_command::<I, O>(spec, Arc::new(invoke))
    }

    /// A command that first tries `shortcut`: the same command in one
    /// statement ([`OneShot`]), which declines (`None`) whenever it cannot
    /// be sure; then `handler` runs in its transaction and decides. Both
    /// must give the same reply and events for the same request.
    pub fn command_with_shortcut<I, O, S, SFut, F, Fut>(spec: Spec, shortcut: S, handler: F) -> Self
    where
        I: DeserializeOwned + Serialize + JsonSchema + Clone + Send + 'static,
        O: Reply + JsonSchema + Send + 'static,
        S: Fn(OneShot, I) -> SFut + Send + Sync + 'static,
        SFut: Future<Output = Result<Option<Done<O>>>> + Send + 'static,
        F: Fn(Tx, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Done<O>>> + Send + 'static,
    {
        let _ = REPLAYS.get_or_create(&labels(&[("function", spec.name)]));
        for outcome in ["committed", "declined"] {
            let _ = SHORTCUTS.get_or_create(&labels(&[("function", spec.name), ("outcome", outcome)]));
        }
        let (shortcut, handler) = (Arc::new(shortcut), Arc::new(handler));
        let invoke = move |ctx: Ctx, incoming: Incoming| -> BoxFuture<Result<Option<ReplyEvent>>> {
            let (shortcut, handler) = (shortcut.clone(), handler.clone());
            Box::pin(async move {
                let input: I = incoming.decode()?;
                let key = key(&ctx, &incoming, &input)?;
                let shot = OneShot::new(ctx.clone(), spec, key.clone(), incoming.trace.clone());
                let done = shortcut(shot, input.clone()).await?;
                let outcome = if done.is_some() { "committed" } else { "declined" };
                SHORTCUTS.get_or_create(&labels(&[("function", spec.name), ("outcome", outcome)])).inc();
                if let Some(done) = done {
                    let (reply, events) = done.into_parts();
                    ctx.publish(events);
                    return Ok(Some(reply));
                }
                in_transaction(ctx, spec, incoming.trace, key, input, &*handler).await.map(Some)
            })
        };
        Self::of_command::<I, O>(spec, Arc::new(invoke)).with_metrics(&[&SHORTCUTS])
    }

    fn of_command<I: JsonSchema, O: JsonSchema>(spec: Spec, invoke: Arc<super::Invoke>) -> Self {
        Function {
            spec,
            kind: Kind::Command,
            contract: Contract { accepts: schema_for::<I>, replies: Some(schema_for::<O>) },
            sections: Vec::new(),
            metrics: Vec::new(),
            site: None,
            invoke,
        }
    }
}

/// The request's idempotency key scoped to its caller, and the request as
/// the handler sees it: a key reused with other data is refused rather than
/// silently replayed.
fn key<I: Serialize>(ctx: &Ctx, incoming: &Incoming, input: &I) -> Result<Key> {
    let Some(key) = &incoming.idempotency_key else { return Ok(None) };
    let key = idempotency::scoped_key(ctx.caller().map(|c| c.subject.as_str()), key);
    Ok(Some((key, serde_json::to_value(input).map_err(anyhow::Error::from)?)))
}

/// Claims the key and runs `handler` in one transaction; a key claimed
/// before is answered with its first reply.
async fn in_transaction<I, O, F, Fut>(
    ctx: Ctx,
    spec: Spec,
    trace: Option<Parent>,
    key: Key,
    input: I,
    handler: &F,
) -> Result<ReplyEvent>
where
    O: Reply,
    F: Fn(Tx, I) -> Fut,
    Fut: Future<Output = Result<Done<O>>>,
{
    let mut tx = ctx.db().begin().await?;
    let claim = match key {
        None => None,
        Some((key, request)) => match idempotency::claim(&mut tx, spec.name, &key, &request).await? {
            idempotency::Outcome::Claimed(claim) => Some(claim),
            idempotency::Outcome::Replay(reply) => {
                REPLAYS.get_or_create(&labels(&[("function", spec.name)])).inc();
                return Ok(*reply);
            }
        },
    };
    let tx = Tx::new(tx, ctx.clone(), spec, claim, trace);
    let (reply, events) = handler(tx, input).await?.into_parts();
    // The events are safe in the outbox: the reply need not wait for the broker.
    ctx.publish(events);
    Ok(reply)
}
