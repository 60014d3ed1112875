//! get-stats: totals, destinations by popularity, and the latest candy handed out.

use domain::money::Money;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use shared::auth::{Access, Role};
use shared::{Ctx, Dependency, Error, Function, Reply, Result, Spec};

use crate::keys;
pub use crate::read::DestinationStats;

pub const SPEC: Spec = Spec::new("get-stats", crate::SOURCE, Access::Public)
    .accepts(&["skybook.stats.get"])
    .replies("skybook.stats.found")
    .dependencies(&[Dependency::Redis]);

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GetStats {
    /// How many destinations, most booked first (1 to 100).
    pub destinations: usize,
    /// How many candy log entries, newest first (0 to 100; 10 when left
    /// out). The log names children: for operators and admins only.
    pub candy_log: Option<usize>,
}

impl Default for GetStats {
    fn default() -> Self {
        GetStats { destinations: 10, candy_log: None }
    }
}

/// Who may read the candy log, which names passengers under 12.
const CANDY_LOG_READERS: &[Role] = &[Role::Operator, Role::Admin];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Stats {
    pub total_revenue: Money,
    pub total_bookings: i64,
    pub pet_bookings: i64,
    pub total_candy_cost: Money,
    pub passengers_under_12: i64,
    pub destinations: Vec<DestinationStats>,
    /// The latest candy handed out, newest first; only for operators and
    /// admins (absent for anyone else: it names children).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candy_log: Option<Vec<String>>,
}

impl Reply for Stats {}

pub fn function() -> Function {
    Function::query(SPEC, get_stats)
}

pub async fn get_stats(ctx: Ctx, input: GetStats) -> Result<Stats> {
    if !(1..=100).contains(&input.destinations) || input.candy_log.is_some_and(|n| n > 100) {
        return Err(Error::malformed("invalid_data", "destinations must be 1 to 100 and candy_log 0 to 100"));
    }
    // Aggregates are public; the names in the candy log are not.
    let candy_log = match (ctx.caller_is_any(CANDY_LOG_READERS), input.candy_log) {
        (true, wanted) => Some(wanted.unwrap_or(10)),
        (false, None | Some(0)) => None,
        (false, Some(_)) => {
            return Err(Error::Forbidden {
                message: "the candy log names passengers: operators and admins only".into(),
            });
        }
    };
    let mut redis = ctx.redis();
    let totals = crate::read::totals(&mut redis).await.map_err(unreadable)?;

    // The ranking is kept as a sorted set by the consumer: the top N come
    // straight from it, with no scan of the keyspace at all.
    let destinations = crate::read::most_booked(&mut redis, input.destinations).await.map_err(unreadable)?;

    let candy_log: Option<Vec<String>> = match candy_log {
        None => None,
        Some(0) => Some(Vec::new()),
        Some(n) => Some(redis.lrange(keys::CANDY_LOG, 0, n as isize - 1).await.map_err(unreadable)?),
    };
    Ok(Stats {
        total_revenue: totals.revenue,
        total_bookings: totals.bookings,
        pet_bookings: totals.pet_bookings,
        total_candy_cost: totals.candy_cost,
        passengers_under_12: totals.passengers_under_12,
        destinations,
        candy_log,
    })
}

/// A Redis error as get-stats answers it. Redis unreachable stays
/// `redis_unavailable`; a key it cannot read as the stats it should hold (of
/// the wrong type, or not a number) is `stats_unreadable`, a 503 too:
/// reconcile-stats rebuilds such keys from PostgreSQL on its next tick, so
/// asking again shortly is the answer, and the stats are not a bug's.
fn unreadable(e: redis::RedisError) -> Error {
    match Error::from(e) {
        Error::Internal(e) => Error::unavailable(
            "stats_unreadable",
            format!(
                "the stats in Redis cannot be read ({e}); reconcile-stats rebuilds them on its next tick"
            ),
        ),
        other => other,
    }
}
