//! Reading the destinations record-booking-stats keeps, ranked by bookings.

use serde::{Deserialize, Serialize};
use shared::money::Money;
use uuid::Uuid;

use crate::keys;

/// One destination's confirmed bookings and revenue, under its current name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DestinationStats {
    pub id: Uuid,
    pub name: String,
    pub bookings: i64,
    pub revenue: Money,
}

/// The `limit` most booked destinations, most first (ties by name): read from
/// the sorted set and each one's hash, never by scanning the keyspace.
pub async fn most_booked<C: redis::aio::ConnectionLike>(
    redis: &mut C,
    limit: usize,
) -> redis::RedisResult<Vec<DestinationStats>> {
    let ranked: Vec<(String, i64)> = redis::cmd("ZRANGE")
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
        .await?;
    let ids: Vec<Uuid> = ranked.iter().filter_map(|(id, _)| id.parse().ok()).collect();
    let mut destinations = of(redis, &ids).await?;
    destinations.sort_by(|a, b| b.bookings.cmp(&a.bookings).then_with(|| a.name.cmp(&b.name)));
    Ok(destinations)
}

/// The stats of the given destinations, those with none left out.
pub async fn of<C: redis::aio::ConnectionLike>(
    redis: &mut C,
    ids: &[Uuid],
) -> redis::RedisResult<Vec<DestinationStats>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for id in ids {
        pipe.cmd("HMGET").arg(keys::destination(id)).arg("name").arg("bookings").arg("revenue_cents");
    }
    let rows: Vec<(Option<String>, Option<i64>, Option<i64>)> = pipe.query_async(redis).await?;
    Ok(ids
        .iter()
        .zip(rows)
        .filter_map(|(id, (name, bookings, cents))| {
            Some(DestinationStats {
                id: *id,
                name: name.unwrap_or_default(),
                bookings: bookings?,
                revenue: Money::from_cents(cents.unwrap_or(0)),
            })
        })
        .collect())
}
