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
/// What the stats have applied, by the events' place in the outbox's
/// stream (their `sequence`): every number below this floor is settled,
/// applied unless it is [`OWED`]; reconcile-stats raises it each tick.
pub const APPLIED_FLOOR: &str = "stats:{skybook}:applied_floor";
/// Above the floor, a bitmap of the numbers applied, in chunks of
/// [`CHUNK_BITS`] (`…:applied:<number / CHUNK_BITS>`); a chunk goes once
/// the floor passes it.
pub const APPLIED_PREFIX: &str = "stats:{skybook}:applied:";
/// Numbers below the floor committed but not applied when it passed them
/// (a dead letter, a delivery still on its way): applied once on arrival.
pub const OWED: &str = "stats:{skybook}:owed";
/// Set while a reconciliation runs; the consumer then also journals what it
/// applies, so the rebuilt stats can include it (see `reconcile_stats`).
pub const RECONCILING: &str = "stats:{skybook}:reconciling";
pub const JOURNAL: &str = "stats:{skybook}:journal";

/// Numbers per bitmap chunk: 8 KiB each.
pub const CHUNK_BITS: i64 = 1 << 16;
/// A candy for every passenger under [`CANDY_AGE_LIMIT`], at this price.
pub const CANDY_COST_CENTS: i64 = 500;
pub const CANDY_AGE_LIMIT: i16 = 12;
/// Entries the candy log keeps, newest first.
pub const CANDY_LOG_CAP: i64 = 1000;

pub fn destination(id: &uuid::Uuid) -> String {
    format!("{DESTINATION_PREFIX}{id}")
}

/// The bitmap chunk that holds number `seq`, and its bit there.
pub fn applied(seq: i64) -> (String, i64) {
    (format!("{APPLIED_PREFIX}{}", seq.div_euclid(CHUNK_BITS)), seq.rem_euclid(CHUNK_BITS))
}

/// The candy log's line for a booking, in the original system's words.
pub fn candy_entry(booking: &uuid::Uuid, passenger: &str) -> String {
    format!("Reserva {booking}: Dulce entregado a {passenger}")
}
