//! relay-outbox: on every PingSource tick, publishes the outbox rows that
//! their command could not publish (the broker was down), oldest first.

use std::time::{Duration, Instant};

use serde::de::IgnoredAny;
use shared::cloudevent::Incoming;
use shared::{Ctx, Dependency, Function, Result, Spec};

pub const SPEC: Spec = Spec {
    name: "relay-outbox",
    accepts: &["dev.knative.sources.ping"],
    replies: "",
    source: crate::SOURCE,
    authenticated: false,
    dependencies: &[Dependency::Postgres],
    rate_limited: false,
};

pub fn function() -> Function {
    Function::consumer(SPEC, relay_outbox)
}

/// Time one tick may spend draining a backlog: well inside a minute's schedule.
const TICK_BUDGET: Duration = Duration::from_secs(20);

/// A tick's data is whatever the PingSource carries; only its arrival counts.
/// While passes come back full (a backlog after the broker was down), the tick
/// keeps going, within its budget, rather than sending one batch a minute.
pub async fn relay_outbox(ctx: Ctx, _tick: Incoming, _data: IgnoredAny) -> Result<()> {
    let settings = ctx.settings();
    let started = Instant::now();
    loop {
        let report = shared::outbox::relay(&ctx, settings.outbox_grace(), settings.outbox_batch).await?;
        if report.published + report.failed > 0 {
            tracing::info!(published = report.published, failed = report.failed, "relay pass");
        }
        let full = i64::from(report.published) >= settings.outbox_batch;
        if !full || report.failed > 0 || started.elapsed() > TICK_BUDGET {
            return Ok(());
        }
    }
}
