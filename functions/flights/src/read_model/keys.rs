//! The Redis keys of the flights read model. Every key carries the hash tag
//! `{skybook}`, so one script may touch any of them on Redis Cluster too.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A hash per flight, by its id: `version` and `destination_version` (of
/// the rows its reply was made from), its `place` in the listings and
/// `destination` (its id).
pub const VERSIONS_PREFIX: &str = "flights:{skybook}:versions:";
/// A string per flight, by its id: the flight as get-flight serves it.
pub const REPLY_PREFIX: &str = "flights:{skybook}:reply:";
/// Every flight by departure: a sorted set of [`entry`]s, all of score 0,
/// so Redis orders them as PostgreSQL orders the flights, by (departure,
/// id), and a page is one range of them from a cursor, replies and all.
pub const LISTING: &str = "flights:{skybook}:listing";
/// One destination's flights by departure, by the destination's id.
pub const LISTING_TO: &str = "flights:{skybook}:listing:";
/// Set once a rebuild has loaded every upcoming flight: until then lists
/// are read from PostgreSQL. (Not `…:whole` nor `…:ready`, the marks of
/// the model's earlier forms.)
pub const READY: &str = "flights:{skybook}:loaded";
/// Where the sweep that checks the read model against PostgreSQL, a part
/// each tick, goes on from: a departure and an id.
pub const SWEEP_CURSOR: &str = "flights:{skybook}:sweep_cursor";

pub fn versions(id: &Uuid) -> String {
    format!("{VERSIONS_PREFIX}{id}")
}

pub fn reply(id: &Uuid) -> String {
    format!("{REPLY_PREFIX}{id}")
}

pub fn listing_to(destination: &Uuid) -> String {
    format!("{LISTING_TO}{destination}")
}

/// A departure as a place begins: its microseconds since 1970, twenty
/// digits, so that text orders as time does (the model holds no flight
/// before 1970; an earlier bound reads as 1970).
pub fn departure(at: DateTime<Utc>) -> String {
    format!("{:020}", at.timestamp_micros().max(0))
}

/// A flight's place in the listings: `<departure>:<id>`. The ids are
/// lowercase hyphenated UUIDs, whose text orders as PostgreSQL orders uuids.
pub fn place(at: DateTime<Utc>, id: &Uuid) -> String {
    format!("{}:{id}", departure(at))
}

/// Past every entry of the flight at `place`, whatever its reply: an entry
/// goes on with `:`, and `;` is the byte after it.
pub fn after(place: &str) -> String {
    format!("{place};")
}

/// The length of a [`place`]: twenty digits, a colon, a UUID.
const PLACE_LEN: usize = 20 + 1 + 36;

/// A flight's entry in the listings, `<place>:<reply>`: the place orders
/// it, the reply is what a page serves.
pub fn entry(place: &str, reply: &str) -> String {
    format!("{place}:{reply}")
}

/// The departure and id of an [`entry`], and where its reply begins.
pub fn parse_entry(entry: &str) -> Option<(DateTime<Utc>, Uuid, usize)> {
    let (at, id) = entry.get(..PLACE_LEN)?.split_once(':')?;
    if entry.as_bytes().get(PLACE_LEN) != Some(&b':') {
        return None;
    }
    let at = DateTime::from_timestamp_micros(at.parse().ok()?)?;
    Some((at, Uuid::parse_str(id).ok()?, PLACE_LEN + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_orders_by_its_place_and_reads_back() {
        let id = Uuid::new_v4();
        let at = DateTime::from_timestamp_micros(1_800_000_000_123_456).unwrap();
        let place = place(at, &id);
        let entry = entry(&place, r#"{"id":1}"#);
        let (read_at, read_id, reply) = parse_entry(&entry).unwrap();
        assert_eq!((read_at, read_id, &entry[reply..]), (at, id, r#"{"id":1}"#));
        assert!(entry > place && entry < after(&place));
        let later = super::place(at + chrono::TimeDelta::microseconds(1), &Uuid::nil());
        assert!(after(&place) < later, "the next departure sorts after every entry of this one");
        assert_eq!(parse_entry(&place), None);
        assert_eq!(parse_entry(&format!("{place};{{}}")), None);
    }
}
