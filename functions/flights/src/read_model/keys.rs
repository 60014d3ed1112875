//! The Redis keys of the flights read model. Every key carries the hash tag
//! `{skybook}`, so one script may touch any of them on Redis Cluster too.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A hash per flight, by its id: `version` and `destination_version` (of
/// the rows its reply was made from), its `member` of the sorted sets and
/// `destination` (its id).
pub const FLIGHT_PREFIX: &str = "flights:{skybook}:flight:";
/// A string per flight, by its id: the flight as get-flight serves it.
pub const REPLY_PREFIX: &str = "flights:{skybook}:reply:";
/// Every flight by departure: a sorted set whose members are [`member`]s,
/// all of score 0, so Redis orders them as PostgreSQL orders the flights,
/// by (departure, id), and a page is a range of them from a cursor.
pub const DEPARTURES: &str = "flights:{skybook}:departures";
/// One destination's flights by departure, by the destination's id.
pub const DEPARTURES_TO: &str = "flights:{skybook}:departures:";
/// Set once a rebuild has loaded every upcoming flight: until then lists
/// are read from PostgreSQL. (Not `…:ready`, the mark of the model's
/// earlier form, which held rows rather than replies.)
pub const READY: &str = "flights:{skybook}:whole";
/// Where the sweep that checks the read model against PostgreSQL, a part
/// each tick, goes on from: a departure and an id.
pub const SWEEP_CURSOR: &str = "flights:{skybook}:sweep_cursor";

pub fn flight(id: &Uuid) -> String {
    format!("{FLIGHT_PREFIX}{id}")
}

pub fn reply(id: &Uuid) -> String {
    format!("{REPLY_PREFIX}{id}")
}

pub fn departures_to(destination: &Uuid) -> String {
    format!("{DEPARTURES_TO}{destination}")
}

/// A departure as a member begins: its microseconds since 1970, twenty
/// digits, so that text orders as time does (the model holds no flight
/// before 1970; an earlier bound reads as 1970).
pub fn departure(at: DateTime<Utc>) -> String {
    format!("{:020}", at.timestamp_micros().max(0))
}

/// A flight's member of the sorted sets: `<departure>:<id>`. The ids are
/// lowercase hyphenated UUIDs, whose text orders as PostgreSQL orders uuids.
pub fn member(at: DateTime<Utc>, id: &Uuid) -> String {
    format!("{}:{id}", departure(at))
}

/// The departure and id of a [`member`].
pub fn parse_member(member: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (at, id) = member.split_once(':')?;
    let at = DateTime::from_timestamp_micros(at.parse().ok()?)?;
    Some((at, Uuid::parse_str(id).ok()?))
}
