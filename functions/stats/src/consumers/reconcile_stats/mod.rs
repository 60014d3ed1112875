//! reconcile-stats: on every PingSource tick, raises the floor below which
//! the stats consider every booking event settled, checks the stats keys
//! (O(destinations)), and rebuilds them from PostgreSQL when Redis lost them,
//! holds a broken key or disagrees with itself, or when an operator asks
//! (`skybook.stats.rebuild`), swapping the result in at once.
//!
//! Events keep arriving while a rebuild runs, and none is lost or counted
//! twice:
//! 1. A marker is set first; while it is set the consumer also journals
//!    what it applies.
//! 2. PostgreSQL is read in one repeatable-read snapshot, taken once every
//!    outbox number up to a horizon is settled: the snapshot holds every
//!    booking event at or below it, and the few above it that it lists.
//! 3. The swap writes every key in one script, after adding the journalled
//!    events the snapshot does not hold, and only if the journal has not
//!    grown since it was read (else it reads it again); the horizon becomes
//!    the applied floor, so a late delivery of an event the rebuild holds is
//!    not applied on top of it.

mod floor;
mod redis_side;
mod snapshot;

use shared::auth::{Access, Role};

use domain::events::STATS_REBUILD;
use shared::cloudevent::Incoming;
use shared::cloudevent::PING;
use shared::{Ctx, Dependency, Error, Function, Result, Spec};

pub use floor::Floor;
pub use snapshot::{JournalEntry, Stats};

pub const SPEC: Spec = Spec::new(
    "reconcile-stats",
    crate::SOURCE,
    Access::BrokerAndControl { types: &[STATS_REBUILD], roles: &[Role::Operator] },
)
.accepts(&[PING, STATS_REBUILD])
.dependencies(&[Dependency::Postgres, Dependency::Redis]);

pub(crate) static DRIFT: shared::metrics::Gauges = shared::metrics::gauges(
    "stats_drift",
    "PostgreSQL minus Redis at the last rebuild, by measure (0: in step)",
);
pub(crate) static REBUILDS: shared::metrics::Counters =
    shared::metrics::counters("stats_rebuilds", "Stats rebuilt from PostgreSQL, by reason");
pub(crate) static OWED: shared::metrics::Gauges = shared::metrics::gauges(
    "stats_owed_events",
    "Booking events below the applied floor that have not been applied yet (dead letters, late deliveries)",
);

pub fn function() -> Function {
    Function::consumer(SPEC, reconcile_stats)
        .with_settings::<crate::settings::StatsSettings>()
        .with_metrics(&[&DRIFT, &REBUILDS, &OWED])
}

/// What one reconciliation found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Where the applied floor stood before any rebuild.
    pub floor: Floor,
    /// Why it rebuilt, if it did.
    pub rebuilt: Option<&'static str>,
    /// PostgreSQL minus Redis, by measure, when it rebuilt: only the
    /// measures that differ.
    pub drift: Vec<(&'static str, i64)>,
    /// Events applied while it rebuilt that the snapshot did not hold.
    pub journalled: usize,
}

pub async fn reconcile_stats(ctx: Ctx, event: Incoming, _data: serde_json::Value) -> Result<()> {
    let requested = event.ty == STATS_REBUILD;
    let report = reconcile(&ctx, requested).await?;
    match report.rebuilt {
        None => tracing::info!(floor = ?report.floor, "stats keys whole"),
        Some(reason) if report.drift.is_empty() => tracing::info!(reason, "stats rebuilt, no drift"),
        Some(reason) => {
            tracing::warn!(reason, drift = ?report.drift, "stats drifted from PostgreSQL; rebuilt")
        }
    }
    Ok(())
}

/// Raises the floor, checks the keys, and rebuilds when they need it (or
/// always, when `force`).
pub async fn reconcile(ctx: &Ctx, force: bool) -> Result<Report> {
    let mut redis = ctx.redis();
    let Some(claim) = redis_side::Claim::take(&mut redis).await? else {
        tracing::info!("another reconciliation is under way");
        return Ok(Report { floor: Floor::Missing, rebuilt: None, drift: Vec::new(), journalled: 0 });
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
    let floor = floor::raise(ctx, &mut redis).await?;
    if let Floor::At { owed, .. } = floor {
        OWED.get_or_create(&Vec::new()).set(owed as i64);
    }
    let live = redis_side::read(&mut redis).await?;
    if !live.broken.is_empty() {
        tracing::warn!(keys = ?live.broken, "stats keys of the wrong type or not numbers");
    }
    let reason = if force {
        "requested"
    } else if floor == Floor::Missing {
        "lost"
    } else if !live.broken.is_empty() {
        "broken"
    } else if !live.stats.consistent() {
        "inconsistent"
    } else {
        claim.release(&mut redis).await?;
        return Ok(Report { floor, rebuilt: None, drift: Vec::new(), journalled: 0 });
    };
    let (drift, journalled) = rebuild(ctx, claim, reason).await?;
    // The rebuild holds every event below its floor: nothing is owed.
    OWED.get_or_create(&Vec::new()).set(0);
    Ok(Report { floor, rebuilt: Some(reason), drift, journalled })
}

/// Rebuilds every key from PostgreSQL and swaps it in; returns the drift it
/// found and how many journalled events it added.
async fn rebuild(
    ctx: &Ctx,
    claim: &redis_side::Claim,
    reason: &'static str,
) -> Result<(Vec<(&'static str, i64)>, usize)> {
    let mut redis = ctx.redis();
    let snapshot = snapshot::read(ctx).await?;
    // Deliveries of events the snapshot holds settle before the comparison.
    tokio::time::sleep(ctx.section::<crate::settings::StatsSettings>()?.stats_settle()).await;

    let live = redis_side::read(&mut redis).await?;
    let mut stats = live.stats;
    for entry in live.journal.iter().filter(|e| !snapshot.holds(e.seq)) {
        stats.apply(entry, -1);
    }
    let mut drift = snapshot.stats.drift(&stats);
    for measure in Stats::MEASURES {
        let value = drift.iter().find(|(m, _)| *m == measure).map_or(0, |(_, v)| *v);
        DRIFT.get_or_create(&vec![("measure".to_owned(), measure.to_owned())]).set(value);
    }
    DRIFT
        .get_or_create(&vec![("measure".to_owned(), "broken_keys".to_owned())])
        .set(live.broken.len() as i64);
    if !live.broken.is_empty() {
        drift.push(("broken_keys", live.broken.len() as i64));
    }

    // Swap, reading the journal again until it holds still.
    for _ in 0..20 {
        let journal = redis_side::journal(&mut redis).await?;
        let mut rebuilt = snapshot.stats.clone();
        let mut applied: Vec<i64> = snapshot.above.iter().copied().collect();
        for entry in journal.iter().filter(|e| !snapshot.holds(e.seq)) {
            rebuilt.apply(entry, 1);
            applied.push(entry.seq);
        }
        let added = applied.len() - snapshot.above.len();
        match redis_side::swap(&mut redis, claim, journal.len(), &rebuilt, &snapshot, &applied).await? {
            redis_side::Swap::Done => {
                REBUILDS.get_or_create(&vec![("reason".to_owned(), reason.to_owned())]).inc();
                return Ok((drift, added));
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
