//! relay-outbox: on every PingSource tick, publishes the outbox rows that
//! their command could not publish (the broker was down), oldest first.

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

/// A tick's data is whatever the PingSource carries; only its arrival counts.
pub async fn relay_outbox(ctx: Ctx, _tick: Incoming, _data: IgnoredAny) -> Result<()> {
    let settings = ctx.settings();
    let report = shared::outbox::relay(&ctx, settings.outbox_grace(), settings.outbox_batch).await?;
    if report.published + report.failed > 0 {
        tracing::info!(published = report.published, failed = report.failed, "relay pass");
    }
    Ok(())
}
