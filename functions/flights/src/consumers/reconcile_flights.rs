//! reconcile-flights: on every PingSource tick, rebuilds the flights read
//! model from PostgreSQL when it is not whole (its first tick, or after
//! Redis lost it), drops the flights that departed, and checks the next
//! part of it against PostgreSQL, so an event that never arrived (a dead
//! letter) is healed within one sweep of the upcoming flights. Each tick's
//! work is bounded, however long the schedule has run.

use std::time::{Duration, Instant};

use chrono::Utc;
use shared::auth::Access;
use shared::cloudevent::{Incoming, PING};
use shared::{Ctx, Dependency, Function, Result, Spec};

use crate::model;
use crate::read_model::{self, BATCH};

pub const SPEC: Spec = Spec::new("reconcile-flights", crate::SOURCE, Access::Broker)
    .accepts(&[PING])
    .dependencies(&[Dependency::Postgres, Dependency::Redis]);

/// Flights checked by one tick once the model is whole: at a tick a minute,
/// a hundred thousand upcoming flights are all checked every ten minutes.
const SWEEP_PER_TICK: i64 = 10_000;
/// The longest a rebuild works in one tick; it goes on at the next.
const TICK_BUDGET: Duration = Duration::from_secs(20);

pub fn function() -> Function {
    Function::consumer(SPEC, reconcile_flights)
}

/// A tick's data is whatever the PingSource carries; only its arrival counts.
pub async fn reconcile_flights(ctx: Ctx, _tick: Incoming, _data: serde_json::Value) -> Result<()> {
    let started = Instant::now();
    let mut redis = ctx.redis();
    let gone = read_model::trim(&mut redis, Utc::now() - read_model::KEPT_AFTER_DEPARTURE).await?;
    let ready = read_model::is_ready(&mut redis).await?;
    // Whole: a part of the sweep. Not: the whole of it, as far as the
    // budget goes, then the mark.
    let limit = if ready { SWEEP_PER_TICK } else { i64::MAX };
    let mut cursor = read_model::sweep_cursor(&mut redis).await?;
    let mut checked = 0;
    let mut newer = 0;
    let finished = loop {
        let rows = {
            let mut conn = ctx.db().read().await?;
            let from = Utc::now() - read_model::KEPT_AFTER_DEPARTURE;
            model::departing_after(conn.exec(), from, None, cursor, BATCH).await?
        };
        let last = rows.last().map(|r| (r.departure_at, r.id));
        checked += rows.len() as i64;
        newer += read_model::store(&mut redis, &rows).await?;
        cursor = last;
        if (rows.len() as i64) < BATCH {
            break true;
        }
        read_model::set_sweep_cursor(&mut redis, cursor).await?;
        if checked >= limit || started.elapsed() > TICK_BUDGET {
            break false;
        }
    };
    if finished {
        // Round again from the first upcoming flight next time.
        read_model::set_sweep_cursor(&mut redis, None).await?;
        if !ready {
            read_model::mark_ready(&mut redis).await?;
        }
    }
    tracing::info!(checked, newer, departed = gone, ready = ready || finished, "flights read model checked");
    Ok(())
}
