//! reconcile-stats: on every PingSource tick (or an operator's
//! `skybook.stats.rebuild`), compares the Redis stats with what PostgreSQL
//! says, reports the drift, and rebuilds every key from PostgreSQL when they
//! differ, swapping the result in at once.
//!
//! Events keep arriving while it runs, and none is lost or counted twice:
//! 1. A marker is set before PostgreSQL is read; while it is set the consumer
//!    also journals what it applies.
//! 2. PostgreSQL is read in one statement, hence one snapshot, which also
//!    lists the booking events it holds. Those are marked seen before the
//!    swap, so a late delivery of one is not applied on top of the rebuild.
//! 3. The swap writes every key in one script, after adding the journalled
//!    events the snapshot does not hold, and only if the journal has not
//!    grown since it was read (else it reads it again).

mod redis_side;
mod snapshot;

use shared::auth::{Access, Role};
use std::collections::BTreeSet;
use std::sync::LazyLock;

use shared::cloudevent::Incoming;
use shared::events::{PING, STATS_REBUILD};
use shared::metrics::{CounterFamily, GaugeFamily};
use shared::{Ctx, Dependency, Error, Function, Result, Spec};

pub use snapshot::{JournalEntry, Stats};

pub const SPEC: Spec = Spec {
    name: "reconcile-stats",
    accepts: &[PING, STATS_REBUILD],
    replies: "",
    source: crate::SOURCE,
    access: Access::BrokerAndControl { types: &[STATS_REBUILD], roles: &[Role::Operator] },
    dependencies: &[Dependency::Postgres, Dependency::Redis],
    rate_limit: shared::ratelimit::RateLimit::Off,
};

static DRIFT: LazyLock<GaugeFamily> = LazyLock::new(|| {
    shared::metrics::gauge_family(
        "stats_drift",
        "PostgreSQL minus Redis at the last reconciliation, by measure (0: in step)",
    )
});
static REBUILDS: LazyLock<CounterFamily> = LazyLock::new(|| {
    shared::metrics::counter_family("stats_rebuilds", "Stats rebuilt from PostgreSQL, by reason")
});

pub fn function() -> Function {
    LazyLock::force(&DRIFT);
    LazyLock::force(&REBUILDS);
    Function::consumer(SPEC, reconcile_stats)
}

/// What one reconciliation found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// PostgreSQL minus Redis, by measure; only the measures that differ.
    pub drift: Vec<(&'static str, i64)>,
    pub rebuilt: bool,
    /// Events applied while it ran that the snapshot did not hold.
    pub journalled: usize,
}

pub async fn reconcile_stats(ctx: Ctx, event: Incoming, _data: serde_json::Value) -> Result<()> {
    let requested = event.ty == STATS_REBUILD;
    let report = reconcile(&ctx, requested).await?;
    if report.drift.is_empty() {
        tracing::info!(rebuilt = report.rebuilt, "stats in step with PostgreSQL");
    } else {
        tracing::warn!(drift = ?report.drift, rebuilt = report.rebuilt, "stats drifted from PostgreSQL");
    }
    Ok(())
}

/// Compares, reports, and rebuilds on drift (or always, when `force`).
pub async fn reconcile(ctx: &Ctx, force: bool) -> Result<Report> {
    let mut redis = ctx.redis();
    let Some(claim) = redis_side::Claim::take(&mut redis).await? else {
        tracing::info!("another reconciliation is under way");
        return Ok(Report { drift: Vec::new(), rebuilt: false, journalled: 0 });
    };
    let result = run(ctx, &claim, force).await;
    if result.is_err() {
        // Stop journalling; the next tick starts afresh.
        let _ = claim.release(&mut redis).await;
    }
    result
}

async fn run(ctx: &Ctx, claim: &redis_side::Claim, force: bool) -> Result<Report> {
    let mut redis = ctx.redis();
    let snapshot = snapshot::read(ctx).await?;
    tokio::time::sleep(ctx.settings().stats_settle()).await;

    let live = redis_side::read(&mut redis).await?;
    let mut stats = live.stats;
    let after: Vec<&JournalEntry> =
        live.journal.iter().filter(|e| !snapshot.events.contains(&e.event)).collect();
    for entry in &after {
        stats.apply(entry, -1);
    }
    let mut drift = snapshot.stats.drift(&stats);
    for (measure, value) in Stats::MEASURES.iter().map(|m| (*m, drift_of(&drift, m))) {
        DRIFT.get_or_create(&vec![("measure".to_owned(), measure.to_owned())]).set(value);
    }
    DRIFT
        .get_or_create(&vec![("measure".to_owned(), "broken_keys".to_owned())])
        .set(live.broken.len() as i64);
    if !live.broken.is_empty() {
        tracing::warn!(keys = ?live.broken, "stats keys of the wrong type or not numbers");
        drift.push(("broken_keys", live.broken.len() as i64));
    }
    if drift.is_empty() && !force {
        claim.release(&mut redis).await?;
        return Ok(Report { drift, rebuilt: false, journalled: after.len() });
    }

    redis_side::mark_seen(&mut redis, &snapshot.events).await?;
    // Swap, reading the journal again until it holds still.
    for _ in 0..20 {
        let journal = redis_side::journal(&mut redis).await?;
        let mut rebuilt = snapshot.stats.clone();
        let mut added = 0;
        for entry in journal.iter().filter(|e| !snapshot.events.contains(&e.event)) {
            rebuilt.apply(entry, 1);
            added += 1;
        }
        match redis_side::swap(&mut redis, claim, journal.len(), &rebuilt).await? {
            redis_side::Swap::Done => {
                let reason = if force { "requested" } else { "drift" };
                REBUILDS.get_or_create(&vec![("reason".to_owned(), reason.to_owned())]).inc();
                return Ok(Report { drift, rebuilt: true, journalled: added });
            }
            redis_side::Swap::JournalGrew => continue,
            redis_side::Swap::Lost => {
                return Err(Error::unavailable(
                    "reconciliation_lost",
                    "the reconciliation's claim expired before its swap; the next tick starts again",
                ));
            }
        }
    }
    Err(Error::unavailable("reconciliation_busy", "the journal never held still long enough to swap"))
}

fn drift_of(drift: &[(&'static str, i64)], measure: &str) -> i64 {
    drift.iter().find(|(m, _)| *m == measure).map_or(0, |(_, v)| *v)
}

/// The events a snapshot holds, by [`crate::keys::event_key`].
pub type EventKeys = BTreeSet<String>;
