//! The Redis keys of the stats, with the names of the original system. Money is in cents.

pub const TOTAL_REVENUE_CENTS: &str = "stats:total_revenue_cents";
pub const TOTAL_BOOKINGS: &str = "stats:total_bookings";
pub const PET_BOOKINGS: &str = "stats:pet_bookings";
pub const TOTAL_CANDY_COST_CENTS: &str = "stats:total_candy_cost_cents";
pub const TOTAL_INFANT_COUNT: &str = "stats:total_infant_count";
pub const CANDY_LOG: &str = "logs:candy_distribution";
/// A hash per destination: `bookings`, `revenue_cents`.
pub const DESTINATION_PREFIX: &str = "stats:destination:";
/// Destinations by confirmed bookings (a sorted set): what get-stats ranks by,
/// without scanning the keyspace.
pub const POPULARITY: &str = "stats:destinations_by_bookings";
/// Event ids already applied, each kept for [`SEEN_TTL_SECS`].
pub const SEEN_PREFIX: &str = "stats:seen:";

/// How long an applied event id is remembered: longer than any broker keeps
/// retrying a delivery.
pub const SEEN_TTL_SECS: u64 = 7 * 24 * 3600;
/// A candy for every passenger under [`CANDY_AGE_LIMIT`], at this price.
pub const CANDY_COST_CENTS: i64 = 500;
pub const CANDY_AGE_LIMIT: i16 = 12;
/// Entries the candy log keeps, newest first.
pub const CANDY_LOG_CAP: i64 = 1000;

pub fn destination(name: &str) -> String {
    format!("{DESTINATION_PREFIX}{name}")
}

pub fn seen(source: &str, id: &str) -> String {
    format!("{SEEN_PREFIX}{source}:{id}")
}
