//! The Redis half of a reconciliation: its claim (the marker that turns the
//! consumer's journal on), reading the live stats, and the atomic swap.

use std::sync::LazyLock;

use shared::redis::Redis;
use uuid::Uuid;

use super::snapshot::{Destination, JournalEntry, Snapshot, Stats};
use crate::keys;

/// How long a claim lasts if its holder dies: the journal then stops.
const CLAIM_TTL_SECS: u64 = 600;

/// This reconciliation's hold on the marker.
pub struct Claim {
    token: String,
}

impl Claim {
    /// Sets the marker and empties the journal at once, unless another
    /// reconciliation holds it.
    pub async fn take(redis: &mut Redis) -> redis::RedisResult<Option<Claim>> {
        static TAKE: LazyLock<redis::Script> = LazyLock::new(|| {
            redis::Script::new(
                r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0",
            )
        });
        let token = Uuid::now_v7().to_string();
        let taken: i64 = TAKE
            .key(keys::RECONCILING)
            .key(keys::JOURNAL)
            .arg(&token)
            .arg(CLAIM_TTL_SECS)
            .invoke_async(redis)
            .await?;
        Ok((taken == 1).then_some(Claim { token }))
    }

    /// Removes the marker and the journal, if the marker is still ours.
    pub async fn release(&self, redis: &mut Redis) -> redis::RedisResult<()> {
        static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
            redis::Script::new(
                r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
end
return 0",
            )
        });
        let _: i64 =
            RELEASE.key(keys::RECONCILING).key(keys::JOURNAL).arg(&self.token).invoke_async(redis).await?;
        Ok(())
    }
}

/// The totals, each ranked destination (id, bookings, revenue), the journal,
/// and the keys of the wrong type, all as Redis holds them.
type LiveRead = (Vec<String>, Vec<(String, String, String)>, Vec<String>, Vec<String>);

/// The live stats as Redis holds them at one instant.
pub struct Live {
    pub stats: Stats,
    pub journal: Vec<JournalEntry>,
    /// Keys of the wrong type or with a value that is not a number: a
    /// rebuild replaces them.
    pub broken: Vec<String>,
}

/// The live stats and the journal, read at one instant.
pub async fn read(redis: &mut Redis) -> shared::Result<Live> {
    static READ: LazyLock<redis::Script> = LazyLock::new(|| {
        redis::Script::new(
            r"
local broken = {}
local function typed(key, want)
  local t = redis.call('TYPE', key).ok
  if t ~= 'none' and t ~= want then
    table.insert(broken, key)
    return false
  end
  return true
end
local totals = {}
for i = 1, 5 do
  totals[i] = typed(KEYS[i], 'string') and (redis.call('GET', KEYS[i]) or '0') or 'broken'
end
local destinations = {}
if typed(KEYS[6], 'zset') then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[6], 0, -1)) do
    local key = ARGV[1] .. id
    if typed(key, 'hash') then
      local h = redis.call('HMGET', key, 'bookings', 'revenue_cents')
      table.insert(destinations, {id, h[1] or '0', h[2] or '0'})
    end
  end
end
typed(KEYS[8], 'list')
typed(KEYS[9], 'string')
typed(KEYS[10], 'set')
local journal = {}
if typed(KEYS[7], 'list') then
  journal = redis.call('LRANGE', KEYS[7], 0, -1)
end
return {totals, destinations, journal, broken}",
        )
    });
    let (totals, destinations, journal, mut broken): LiveRead = READ
        .key(keys::TOTAL_REVENUE_CENTS)
        .key(keys::TOTAL_BOOKINGS)
        .key(keys::PET_BOOKINGS)
        .key(keys::TOTAL_CANDY_COST_CENTS)
        .key(keys::TOTAL_INFANT_COUNT)
        .key(keys::POPULARITY)
        .key(keys::JOURNAL)
        .key(keys::CANDY_LOG)
        .key(keys::APPLIED_FLOOR)
        .key(keys::OWED)
        .arg(keys::DESTINATION_PREFIX)
        .invoke_async(redis)
        .await?;
    let mut number = |key: &str, raw: &str| {
        raw.parse::<i64>().unwrap_or_else(|_| {
            if !broken.iter().any(|b| b == key) {
                broken.push(key.to_owned());
            }
            0
        })
    };
    let total_keys = [
        keys::TOTAL_REVENUE_CENTS,
        keys::TOTAL_BOOKINGS,
        keys::PET_BOOKINGS,
        keys::TOTAL_CANDY_COST_CENTS,
        keys::TOTAL_INFANT_COUNT,
    ];
    let mut total = [0i64; 5];
    for (i, key) in total_keys.iter().enumerate() {
        total[i] = totals.get(i).map_or(0, |raw| number(key, raw));
    }
    let mut by_id = std::collections::BTreeMap::new();
    for (id, bookings, revenue) in &destinations {
        let Ok(uuid) = id.parse::<Uuid>() else { continue };
        let key = keys::destination(&uuid);
        let destination = Destination {
            bookings: number(&key, bookings),
            revenue_cents: number(&key, revenue),
            ..Destination::default()
        };
        by_id.insert(uuid, destination);
    }
    let stats = Stats {
        revenue_cents: total[0],
        bookings: total[1],
        pet_bookings: total[2],
        candy_cost_cents: total[3],
        infants: total[4],
        destinations: by_id,
        candy_log: Vec::new(),
    };
    Ok(Live { stats, journal: parse_journal(&journal)?, broken })
}

/// The journal as it is now.
pub async fn journal(redis: &mut Redis) -> shared::Result<Vec<JournalEntry>> {
    let raw: Vec<String> = redis::cmd("LRANGE").arg(keys::JOURNAL).arg(0).arg(-1).query_async(redis).await?;
    parse_journal(&raw)
}

fn parse_journal(raw: &[String]) -> shared::Result<Vec<JournalEntry>> {
    raw.iter()
        .map(|line| {
            serde_json::from_str(line)
                .map_err(|e| shared::Error::Internal(anyhow::anyhow!("unreadable journal entry {line}: {e}")))
        })
        .collect()
}

pub enum Swap {
    Done,
    /// The consumer journalled more since the journal was read: read again.
    JournalGrew,
    /// The claim expired or was taken over.
    Lost,
}

/// Replaces every stats key with `stats` in one script: readers see the old
/// stats or the new, never a mix. Keys of the wrong type are replaced too.
/// What they remember having applied becomes the snapshot's: its horizon as
/// the floor, and `applied`, the numbers above it that `stats` hold.
pub async fn swap(
    redis: &mut Redis,
    claim: &Claim,
    journal_len: usize,
    stats: &Stats,
    snapshot: &Snapshot,
    applied: &[i64],
) -> redis::RedisResult<Swap> {
    static SWAP: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(include_str!("swap.lua")));
    let mut invocation = SWAP.prepare_invoke();
    invocation
        .key(keys::RECONCILING)
        .key(keys::JOURNAL)
        .key(keys::TOTAL_REVENUE_CENTS)
        .key(keys::TOTAL_BOOKINGS)
        .key(keys::PET_BOOKINGS)
        .key(keys::TOTAL_CANDY_COST_CENTS)
        .key(keys::TOTAL_INFANT_COUNT)
        .key(keys::CANDY_LOG)
        .key(keys::POPULARITY)
        .key(keys::APPLIED_FLOOR)
        .key(keys::OWED)
        .arg(&claim.token)
        .arg(journal_len)
        .arg(keys::DESTINATION_PREFIX)
        .arg(stats.revenue_cents)
        .arg(stats.bookings)
        .arg(stats.pet_bookings)
        .arg(stats.candy_cost_cents)
        .arg(stats.infants)
        .arg(keys::APPLIED_PREFIX)
        .arg(keys::CHUNK_BITS)
        .arg(snapshot.horizon + 1)
        .arg(stats.destinations.len());
    for (id, d) in &stats.destinations {
        invocation.arg(id.to_string()).arg(&d.name).arg(d.name_version).arg(d.bookings).arg(d.revenue_cents);
    }
    invocation.arg(applied.len());
    for seq in applied {
        invocation.arg(seq);
    }
    for entry in &stats.candy_log {
        invocation.arg(entry);
    }
    let outcome: i64 = invocation.invoke_async(redis).await?;
    Ok(match outcome {
        1 => Swap::Done,
        0 => Swap::JournalGrew,
        _ => Swap::Lost,
    })
}
