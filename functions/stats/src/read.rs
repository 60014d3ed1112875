//! The stats as they are read: by get-stats, and by the other slices (the
//! AI's demand tool and price suggestions), which read no key of the stats
//! themselves. Totals, destinations ranked by bookings, one's popularity.

use domain::money::Money;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::keys;

/// The running totals of every confirmed booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub revenue: Money,
    pub bookings: i64,
    pub pet_bookings: i64,
    pub candy_cost: Money,
    pub passengers_under_12: i64,
}

/// The totals, zero where nothing was booked yet.
pub async fn totals<C: redis::aio::ConnectionLike + Send + Sync>(
    redis: &mut C,
) -> redis::RedisResult<Totals> {
    let totals: Vec<Option<i64>> = redis
        .mget(&[
            keys::TOTAL_REVENUE_CENTS,
            keys::TOTAL_BOOKINGS,
            keys::PET_BOOKINGS,
            keys::TOTAL_CANDY_COST_CENTS,
            keys::TOTAL_INFANT_COUNT,
        ])
        .await?;
    let total = |i: usize| totals.get(i).copied().flatten().unwrap_or(0);
    Ok(Totals {
        revenue: Money::from_cents(total(0)),
        bookings: total(1),
        pet_bookings: total(2),
        candy_cost: Money::from_cents(total(3)),
        passengers_under_12: total(4),
    })
}

/// One destination's bookings against the others'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Popularity {
    /// The destination's confirmed bookings.
    pub bookings: i64,
    /// How many destinations have any.
    pub destinations_booked: i64,
    /// Confirmed bookings in all.
    pub total_bookings: i64,
}

/// A destination's popularity, from the ranking and the totals the consumer
/// keeps: no scan of the keyspace.
pub async fn popularity<C: redis::aio::ConnectionLike + Send + Sync>(
    redis: &mut C,
    destination: &Uuid,
) -> redis::RedisResult<Popularity> {
    let bookings: Option<i64> = redis.zscore(keys::POPULARITY, destination.to_string()).await?;
    let destinations_booked: i64 = redis.zcount(keys::POPULARITY, "(0", "+inf").await?;
    let total_bookings: Option<i64> = redis.get(keys::TOTAL_BOOKINGS).await?;
    Ok(Popularity {
        bookings: bookings.unwrap_or(0),
        destinations_booked,
        total_bookings: total_bookings.unwrap_or(0),
    })
}

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
