//! The Redis keys of the stats. Money is in cents. Every key carries the hash
//! tag `{skybook}`, so they all live in one slot and one script may touch any
//! of them on Redis Cluster too.

pub const TOTAL_REVENUE_CENTS: &str = "stats:{skybook}:total_revenue_cents";
pub const TOTAL_BOOKINGS: &str = "stats:{skybook}:total_bookings";
pub const PET_BOOKINGS: &str = "stats:{skybook}:pet_bookings";
pub const TOTAL_CANDY_COST_CENTS: &str = "stats:{skybook}:total_candy_cost_cents";
pub const TOTAL_INFANT_COUNT: &str = "stats:{skybook}:total_infant_count";
pub const CANDY_LOG: &str = "logs:{skybook}:candy_distribution";
/// A hash per destination, by its id: `name`, `name_version`, `bookings`,
/// `revenue_cents`. Keyed by id, so a rename moves nothing.
pub const DESTINATION_PREFIX: &str = "stats:{skybook}:destination:";
/// Destination ids by confirmed bookings (a sorted set): what get-stats
/// ranks by, without scanning the keyspace.
pub const POPULARITY: &str = "stats:{skybook}:destinations_by_bookings";
/// Event ids already applied, each kept for [`SEEN_TTL_SECS`].
pub const SEEN_PREFIX: &str = "stats:{skybook}:seen:";
/// Set while a reconciliation runs; the consumer then also journals what it
/// applies, so the rebuilt stats can include it (see `reconcile_stats`).
pub const RECONCILING: &str = "stats:{skybook}:reconciling";
pub const JOURNAL: &str = "stats:{skybook}:journal";

/// How long an applied event id is remembered: longer than any broker keeps
/// retrying a delivery. The outbox keeps its rows at least this long, so a
/// rebuild knows every event that could still arrive.
pub const SEEN_TTL_SECS: u64 = 7 * 24 * 3600;
/// A candy for every passenger under [`CANDY_AGE_LIMIT`], at this price.
pub const CANDY_COST_CENTS: i64 = 500;
pub const CANDY_AGE_LIMIT: i16 = 12;
/// Entries the candy log keeps, newest first.
pub const CANDY_LOG_CAP: i64 = 1000;

pub fn destination(id: &uuid::Uuid) -> String {
    format!("{DESTINATION_PREFIX}{id}")
}

/// The id an event is remembered by: its source and id, as CloudEvents
/// define an event's identity.
pub fn event_key(source: &str, id: &str) -> String {
    format!("{source} {id}")
}

pub fn seen(event_key: &str) -> String {
    format!("{SEEN_PREFIX}{event_key}")
}

/// The candy log's line for a booking, in the original system's words.
pub fn candy_entry(booking: &uuid::Uuid, passenger: &str) -> String {
    format!("Reserva {booking}: Dulce entregado a {passenger}")
}
