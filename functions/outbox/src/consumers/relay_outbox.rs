//! relay-outbox: on every PingSource tick, publishes the outbox rows that
//! their command could not publish (the broker was down), oldest first.

use shared::auth::Access;
use std::time::{Duration, Instant};

use shared::cloudevent::Incoming;
use shared::{Ctx, Error, Function, Result, Spec};

use crate::settings::OutboxSettings;

pub const SPEC: Spec = Spec::new("relay-outbox", crate::SOURCE, Access::Broker)
    .accepts(&[shared::cloudevent::PING])
    .emits(&[shared::cloudevent::ANY_TYPE]);

pub fn function() -> Function {
    Function::consumer(SPEC, relay_outbox)
        .with_settings::<OutboxSettings>()
        .with_metrics(shared::outbox::RELAY_METRICS)
}

/// The longest one tick works, well inside a minute's schedule and short
/// enough that the function still goes to zero between ticks (the chart's
/// check counts on it).
const TICK_BUDGET: Duration = Duration::from_secs(20);
/// Of it, what draining a backlog may take; the rest is retention's.
const RELAY_BUDGET: Duration = Duration::from_secs(10);
/// The least time each table's retention gets in a tick: a batch of 5,000
/// rows takes tens of milliseconds, so this is a few hundred thousand rows,
/// far past a minute of writes at a thousand a second.
const RETENTION_BUDGET: Duration = Duration::from_secs(3);

/// A tick's data is whatever the PingSource carries; only its arrival counts.
/// While passes come back full (a backlog after the broker was down), the tick
/// keeps going, within its budget, rather than sending one batch a minute; a
/// failing row is deferred on its own and never ends the tick. Then rows past
/// their retention go: published outbox rows, idempotency keys, replayed
/// dead letters.
pub async fn relay_outbox(ctx: Ctx, _tick: Incoming, _data: serde_json::Value) -> Result<()> {
    let settings = ctx.section::<OutboxSettings>()?;
    let sink = ctx.sink().ok_or_else(|| Error::unavailable("sink_not_configured", "K_SINK is not set"))?;
    let started = Instant::now();
    loop {
        let report =
            shared::outbox::relay(ctx.db(), sink, settings.outbox_grace(), settings.outbox_batch).await?;
        if report.claimed > 0 {
            tracing::info!(
                published = report.published,
                deferred = report.deferred,
                parked = report.parked,
                "relay pass"
            );
        }
        if i64::from(report.claimed) < settings.outbox_batch || started.elapsed() > RELAY_BUDGET {
            break;
        }
    }
    shared::outbox::observe_backlog(ctx.db()).await?;
    // What expired since the last tick, however many: each of the three
    // tables gets a third of what is left of the tick, at least RETENTION_BUDGET.
    let budget = RETENTION_BUDGET.max(TICK_BUDGET.saturating_sub(started.elapsed()) / 3);
    let days = settings.retention_days;
    let outbox = shared::outbox::prune(ctx.db(), days, budget).await?;
    let keys = shared::idempotency::prune(ctx.db(), days, budget).await?;
    let letters = deadletters::retention::prune(ctx.db(), days, budget).await?;
    if outbox + keys + letters > 0 {
        tracing::info!(outbox, idempotency_keys = keys, dead_letters = letters, days, "retention");
    }
    Ok(())
}
