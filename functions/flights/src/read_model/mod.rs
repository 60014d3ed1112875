//! The flights read model in Redis: every upcoming flight with its seats
//! and its destination's price terms, kept by `project-flights` from the
//! events and checked against PostgreSQL a part at a time, so get-flight
//! and list-flights answer without the database. PostgreSQL stays the
//! authority: a booking counts its seats there, under the flight's lock.

pub mod keys;

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use domain::money::Money;
use serde::{Deserialize, Serialize};
use shared::Result;
use shared::redis::Redis;
use uuid::Uuid;

use crate::model::{DestinationTerms, FlightRow};

/// How long after its departure a flight stays in the read model: past
/// that it is history, which PostgreSQL answers.
pub const KEPT_AFTER_DEPARTURE: chrono::TimeDelta = chrono::TimeDelta::hours(12);

static STORE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(include_str!("store.lua")));
static GET: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(include_str!("get.lua")));
static READ: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(include_str!("read.lua")));
/// A destination's terms alone, if newer than held.
static STORE_DESTINATION: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "local held = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
         if tonumber(ARGV[1]) > held then redis.call('HSET', KEYS[1], 'version', ARGV[1], 'doc', ARGV[2]) end
         return 0",
    )
});
/// Up to 1,000 flights that departed before ARGV[1], out of every key.
static TRIM: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, 1000)
         for _, id in ipairs(ids) do
           local destination = redis.call('HGET', ARGV[2] .. id, 'destination')
           if destination then redis.call('ZREM', ARGV[3] .. destination, id) end
           redis.call('DEL', ARGV[2] .. id)
           redis.call('ZREM', KEYS[1], id)
         end
         return #ids",
    )
});

/// A flight's own row, as the read model holds it.
#[derive(Debug, Serialize, Deserialize)]
struct FlightDoc {
    id: Uuid,
    flight_number: String,
    destination_id: Uuid,
    base_price: Money,
    departure_at: DateTime<Utc>,
    capacity: i32,
    seats_taken: i32,
    created_at: DateTime<Utc>,
}

/// What a flight's price and display take from its destination.
#[derive(Debug, Serialize, Deserialize)]
struct DestinationDoc {
    name: String,
    tax_amount: Money,
    is_promotion: bool,
    allows_pets: bool,
}

impl DestinationDoc {
    fn of(name: &str, tax_amount: Money, is_promotion: bool, allows_pets: bool) -> Self {
        DestinationDoc { name: name.to_owned(), tax_amount, is_promotion, allows_pets }
    }
}

/// A departure as the sorted sets score it: microseconds, exact in a
/// double for the next 250 years.
fn score(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// Keeps `rows` (a flight each, with its destination's terms), each only
/// if newer than what the read model holds. Returns how many were.
pub async fn store(redis: &mut Redis, rows: &[FlightRow]) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut invocation = STORE.prepare_invoke();
    for row in rows {
        let flight = FlightDoc {
            id: row.id,
            flight_number: row.flight_number.clone(),
            destination_id: row.destination_id,
            base_price: row.base_price,
            departure_at: row.departure_at,
            capacity: row.capacity,
            seats_taken: row.seats_taken,
            created_at: row.created_at,
        };
        let destination =
            DestinationDoc::of(&row.destination_name, row.tax_amount, row.is_promotion, row.allows_pets);
        invocation
            .key(keys::flight(&row.id))
            .key(keys::destination(&row.destination_id))
            .key(keys::BY_DEPARTURE)
            .key(keys::by_departure_to(&row.destination_id))
            .arg(row.version)
            .arg(to_json(&flight)?)
            .arg(score(row.departure_at))
            .arg(row.id.to_string())
            .arg(row.destination_version)
            .arg(to_json(&destination)?)
            .arg(row.destination_id.to_string());
    }
    Ok(invocation.invoke_async(redis).await?)
}

/// A destination's new terms, for every flight to it, if newer than held.
pub async fn store_destination(redis: &mut Redis, terms: &DestinationTerms) -> Result<()> {
    let doc = DestinationDoc::of(&terms.name, terms.tax_amount, terms.is_promotion, terms.allows_pets);
    let _: i64 = STORE_DESTINATION
        .key(keys::destination(&terms.id))
        .arg(terms.version)
        .arg(to_json(&doc)?)
        .invoke_async(redis)
        .await?;
    Ok(())
}

/// One flight, if the read model holds it and its destination.
pub async fn get(redis: &mut Redis, id: Uuid) -> Result<Option<FlightRow>> {
    let found: Option<(String, Option<String>)> =
        GET.key(keys::flight(&id)).arg(keys::DESTINATION_PREFIX).invoke_async(redis).await?;
    match found {
        Some((flight, Some(destination))) => Ok(Some(row(from_json(&flight)?, &from_json(&destination)?))),
        _ => Ok(None),
    }
}

/// Which flights [`page`] reads: departures from `from` (inclusive) to
/// `until` (exclusive), after `cursor` (a departure and an id), at most
/// `limit` of them, to one destination or any.
#[derive(Debug, Clone)]
pub struct Window {
    pub destination: Option<Uuid>,
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub cursor: Option<(DateTime<Utc>, Uuid)>,
    pub limit: usize,
}

/// Flights in `window`, in (departure, id) order, or `None` while the read
/// model is not yet whole (before its first rebuild, or after Redis lost
/// it): the caller reads PostgreSQL then.
pub async fn page(redis: &mut Redis, window: &Window) -> Result<Option<Vec<FlightRow>>> {
    let set =
        window.destination.as_ref().map_or_else(|| keys::BY_DEPARTURE.to_owned(), keys::by_departure_to);
    let from = match window.cursor {
        Some((at, _)) => score(at).max(score(window.from)),
        None => score(window.from),
    };
    let (at, after) = match window.cursor {
        Some((at, id)) => (score(at).to_string(), id.to_string()),
        None => (String::new(), String::new()),
    };
    let until = window.until.map_or_else(|| "+inf".to_owned(), |u| score(u).to_string());
    type Read = (Vec<Option<String>>, Vec<Option<String>>);
    let read: Option<Read> = READ
        .key(set)
        .key(keys::READY)
        .arg(from)
        .arg(until)
        .arg(at)
        .arg(after)
        .arg(window.limit)
        .arg(keys::FLIGHT_PREFIX)
        .arg(keys::DESTINATION_PREFIX)
        .invoke_async(redis)
        .await?;
    let Some((flights, destinations)) = read else { return Ok(None) };
    // Each destination is read once, however many of the page's flights go there.
    let mut terms = std::collections::HashMap::with_capacity(destinations.len() / 2);
    for pair in destinations.chunks(2) {
        match pair {
            [Some(id), Some(doc)] => terms.insert(id.as_str(), from_json::<DestinationDoc>(doc)?),
            // A flight whose destination the model does not hold yet: not
            // whole, so PostgreSQL answers.
            _ => return Ok(None),
        };
    }
    let mut rows = Vec::with_capacity(flights.len() / 2);
    for pair in flights.chunks(2) {
        let [Some(flight), Some(destination)] = pair else { return Ok(None) };
        let Some(terms) = terms.get(destination.as_str()) else { return Ok(None) };
        rows.push(row(from_json(flight)?, terms));
    }
    Ok(Some(rows))
}

/// Marks the read model whole: lists are read from it from now on.
pub async fn mark_ready(redis: &mut Redis) -> Result<()> {
    let _: () = redis::cmd("SET").arg(keys::READY).arg(1).query_async(redis).await?;
    Ok(())
}

pub async fn is_ready(redis: &mut Redis) -> Result<bool> {
    Ok(redis::cmd("EXISTS").arg(keys::READY).query_async(redis).await?)
}

/// Drops the flights that departed before `before`: the read model holds
/// what may still be booked or looked at soon, not a year of history
/// (which PostgreSQL answers). Returns how many went.
pub async fn trim(redis: &mut Redis, before: DateTime<Utc>) -> Result<u64> {
    let gone: u64 = TRIM
        .key(keys::BY_DEPARTURE)
        .arg(score(before))
        .arg(keys::FLIGHT_PREFIX)
        .arg(keys::BY_DEPARTURE_TO)
        .invoke_async(redis)
        .await?;
    Ok(gone)
}

/// Where the sweep goes on from, if it has begun.
pub async fn sweep_cursor(redis: &mut Redis) -> Result<Option<(DateTime<Utc>, Uuid)>> {
    let held: Option<String> = redis::cmd("GET").arg(keys::SWEEP_CURSOR).query_async(redis).await?;
    Ok(held.and_then(|c| shared::page::parse_time_cursor(&c).ok()))
}

/// Records where the sweep goes on from; `None` starts it again from the
/// first upcoming flight.
pub async fn set_sweep_cursor(redis: &mut Redis, cursor: Option<(DateTime<Utc>, Uuid)>) -> Result<()> {
    let _: () = match cursor {
        Some((at, id)) => {
            redis::cmd("SET")
                .arg(keys::SWEEP_CURSOR)
                .arg(shared::page::time_cursor(at, id))
                .query_async(redis)
                .await?
        }
        None => redis::cmd("DEL").arg(keys::SWEEP_CURSOR).query_async(redis).await?,
    };
    Ok(())
}

fn row(flight: FlightDoc, destination: &DestinationDoc) -> FlightRow {
    FlightRow {
        id: flight.id,
        flight_number: flight.flight_number,
        destination_id: flight.destination_id,
        destination_name: destination.name.clone(),
        tax_amount: destination.tax_amount,
        is_promotion: destination.is_promotion,
        allows_pets: destination.allows_pets,
        base_price: flight.base_price,
        departure_at: flight.departure_at,
        capacity: flight.capacity,
        seats_taken: flight.seats_taken,
        created_at: flight.created_at,
        // Not kept apart from the hash's own: a row read here is for display.
        version: 0,
        destination_version: 0,
    }
}

fn to_json(value: &impl Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| anyhow::anyhow!("the flights read model: {e}").into())
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| anyhow::anyhow!("the flights read model holds what it cannot read: {e}").into())
}
