//! Reading the ranking of destinations that record-booking-stats keeps.

use crate::keys;

/// The `limit` most booked destinations with their confirmed bookings, most
/// first: read from the sorted set, never by scanning the keyspace.
pub async fn most_booked<C: redis::aio::ConnectionLike>(
    redis: &mut C,
    limit: usize,
) -> redis::RedisResult<Vec<(String, i64)>> {
    redis::cmd("ZRANGE")
        .arg(keys::POPULARITY)
        .arg("+inf")
        .arg("(0")
        .arg("BYSCORE")
        .arg("REV")
        .arg("LIMIT")
        .arg(0)
        .arg(limit)
        .arg("WITHSCORES")
        .query_async(redis)
        .await
}
