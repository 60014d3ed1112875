//! Raising the applied floor: each tick settles the numbers below the
//! outbox's horizon, so Redis remembers a bitmap of the last moments above
//! the floor and the few events owed below it, never a mark per event.

use std::sync::LazyLock;
use std::time::Duration;

use domain::events::{BOOKING_CANCELLED, BOOKING_CREATED};
use shared::redis::Redis;
use shared::{Ctx, Result};

use crate::keys;

/// Numbers one tick settles at most: after an outage the floor catches up
/// over a few ticks, each statement and script a chunk's worth.
const MOST_PER_TICK: i64 = 64 * keys::CHUNK_BITS;
/// How long a tick waits for transactions open at its start to end.
const HORIZON_WAIT: Duration = Duration::from_secs(5);

/// Where the floor stands after a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Floor {
    /// Redis has no floor: it lost its data, or the stats were never built.
    Missing,
    At {
        floor: i64,
        owed: u64,
    },
}

/// Moves the floor up to the outbox's horizon, a chunk at a time: the
/// booking events there that were never applied become owed.
pub async fn raise(ctx: &Ctx, redis: &mut Redis) -> Result<Floor> {
    let current: Option<i64> = redis::cmd("GET").arg(keys::APPLIED_FLOOR).query_async(redis).await?;
    let Some(mut floor) = current else { return Ok(Floor::Missing) };
    if let Some(horizon) = shared::outbox::horizon(ctx.db(), HORIZON_WAIT).await? {
        let target = (horizon + 1).min(floor + MOST_PER_TICK);
        while floor < target {
            let to = target.min((floor.div_euclid(keys::CHUNK_BITS) + 1) * keys::CHUNK_BITS);
            if !settle(ctx, redis, floor, to).await? {
                break;
            }
            floor = to;
        }
    } else {
        tracing::info!("transactions older than the tick are still open; the floor waits");
    }
    let owed: u64 = redis::cmd("SCARD").arg(keys::OWED).query_async(redis).await?;
    Ok(Floor::At { floor, owed })
}

/// Settles `[from, to)`, within one bitmap chunk: false if the floor is no
/// longer at `from` (a rebuild moved it).
async fn settle(ctx: &Ctx, redis: &mut Redis, from: i64, to: i64) -> Result<bool> {
    static SETTLE: LazyLock<redis::Script> = LazyLock::new(|| {
        redis::Script::new(
            r"
-- KEYS: 1 floor, 2 the chunk, 3 owed; ARGV: 1 from, 2 to, 3 bits per chunk,
-- then the booking events' numbers in [from, to)
if tonumber(redis.call('GET', KEYS[1]) or '-1') ~= tonumber(ARGV[1]) then return 0 end
local bits = tonumber(ARGV[3])
for i = 4, #ARGV do
  if redis.call('GETBIT', KEYS[2], tonumber(ARGV[i]) % bits) == 0 then
    redis.call('SADD', KEYS[3], ARGV[i])
  end
end
redis.call('SET', KEYS[1], ARGV[2])
if tonumber(ARGV[2]) % bits == 0 then redis.call('DEL', KEYS[2]) end
return 1",
        )
    });
    let events: Vec<i64> = sqlx::query_scalar(
        "SELECT seq FROM outbox WHERE seq >= $1 AND seq < $2 AND type IN ($3, $4) ORDER BY seq",
    )
    .bind(from)
    .bind(to)
    .bind(BOOKING_CREATED)
    .bind(BOOKING_CANCELLED)
    .fetch_all(ctx.db().read().await?.exec())
    .await?;
    let (chunk, _) = keys::applied(from);
    let mut invocation = SETTLE.prepare_invoke();
    invocation.key(keys::APPLIED_FLOOR).key(chunk).key(keys::OWED).arg(from).arg(to).arg(keys::CHUNK_BITS);
    for seq in &events {
        invocation.arg(seq.to_string());
    }
    let moved: i64 = invocation.invoke_async(redis).await?;
    Ok(moved == 1)
}
