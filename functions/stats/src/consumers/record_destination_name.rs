//! record-destination-name: keeps the name the stats show for a destination
//! current when it is renamed (the stats key it by id).

use shared::auth::Access;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use domain::events::DESTINATION_UPDATED;
use serde::Deserialize;
use shared::cloudevent::Incoming;
use shared::{Ctx, Dependency, Function, Result, Spec};
use uuid::Uuid;

use crate::keys;

pub const SPEC: Spec = Spec::new("record-destination-name", crate::SOURCE, Access::Broker)
    .accepts(&[DESTINATION_UPDATED])
    .dependencies(&[Dependency::Redis]);

/// The part of a destination event the stats read.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct DestinationEvent {
    pub id: Uuid,
    pub name: String,
    pub updated_at: DateTime<Utc>,
    /// Absent from events emitted before destinations had versions.
    pub version: Option<i64>,
}

/// Sets the name only when the event is newer than the name the hash holds,
/// so a late, older event never puts an old name back.
static RENAME: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local t = redis.call('TYPE', KEYS[1]).ok
if t ~= 'none' and t ~= 'hash' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' is a ' .. t .. ', not a hash')
end
if tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[1], 'name_version') or '0') then
  redis.call('HSET', KEYS[1], 'name', ARGV[1], 'name_version', ARGV[2])
  return 1
end
return 0",
    )
});

pub fn function() -> Function {
    crate::count_duplicates_of(SPEC.name);
    Function::consumer(SPEC, record_destination_name)
}

pub async fn record_destination_name(
    ctx: Ctx,
    _event: Incoming,
    destination: DestinationEvent,
) -> Result<()> {
    let renamed: i64 = RENAME
        .key(keys::destination(&destination.id))
        .arg(&destination.name)
        .arg(name_version(&destination))
        .invoke_async(&mut ctx.redis())
        .await?;
    if renamed == 0 {
        crate::duplicate(SPEC.name);
        tracing::info!(destination = %destination.id, "an older name; ignored");
    }
    Ok(())
}

/// A name's version: the destination's, which follows commit order; for an
/// event from before versions, when it was updated in microseconds (what a
/// version never falls below).
pub fn name_version(destination: &DestinationEvent) -> i64 {
    destination.version.unwrap_or_else(|| destination.updated_at.timestamp_micros())
}
