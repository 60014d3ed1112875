//! The flights read model in Redis: every upcoming flight as get-flight
//! serves it (seats left, the price a passenger pays), kept by
//! `project-flights` from the events and checked against PostgreSQL a part
//! at a time, so get-flight and list-flights answer without the database,
//! and without writing their replies again. PostgreSQL stays the
//! authority: a booking counts its seats there, under the flight's lock.

pub mod keys;

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use domain::money::Money;
use serde::Deserialize;
use shared::redis::{Redis, Tracked};
use shared::{Rendered, Result};
use uuid::Uuid;

use crate::model::{Flight, FlightRow};

/// How long after its departure a flight stays in the read model: past
/// that it is history, which PostgreSQL answers.
pub const KEPT_AFTER_DEPARTURE: chrono::TimeDelta = chrono::TimeDelta::hours(12);

/// Flights read from PostgreSQL and kept per statement and script.
pub const BATCH: i64 = 1_000;

static STORE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(include_str!("store.lua")));
static TRIM: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(include_str!("trim.lua")));

/// Keeps `rows` (a flight each, with its destination's terms) as
/// get-flight serves them, each only if newer than what the read model
/// holds. Returns how many were.
pub async fn store(redis: &mut Redis, rows: &[FlightRow]) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut invocation = STORE.prepare_invoke();
    invocation.arg(keys::LISTING_TO);
    for row in rows {
        let reply =
            Rendered::of(&Flight::from(row)).map_err(|e| anyhow::anyhow!("the flights read model: {e}"))?;
        invocation
            .key(keys::versions(&row.id))
            .key(keys::reply(&row.id))
            .key(keys::LISTING)
            .key(keys::listing_to(&row.destination_id))
            .arg(row.version)
            .arg(row.destination_version)
            .arg(reply)
            .arg(keys::place(row.departure_at, &row.id))
            .arg(row.destination_id.to_string());
    }
    Ok(invocation.invoke_async(redis).await?)
}

/// One flight as get-flight serves it, if the read model holds it.
pub async fn get(redis: &mut Tracked, id: Uuid) -> Result<Option<Rendered<Flight>>> {
    let reply = stored_reply(redis, id).await?;
    reply.map(|reply| rendered(reply, Some(id.to_string()))).transpose()
}

/// One flight as the read model holds it, parsed (once): a quote for a
/// booking, which PostgreSQL confirms or refuses as it takes the seat
/// ([`crate::model::seats::take_as_quoted`]).
pub async fn quote(redis: &mut Tracked, id: Uuid) -> Result<Option<Flight>> {
    let reply = stored_reply(redis, id).await?;
    Ok(reply.map(|reply| serde_json::from_str(&reply)).transpose().map_err(anyhow::Error::from)?)
}

/// A flight's reply as stored, if the read model holds it.
async fn stored_reply(redis: &mut Tracked, id: Uuid) -> Result<Option<String>> {
    Ok(redis::cmd("GET").arg(keys::reply(&id)).query_async(redis).await?)
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

/// A flight of a page: where it stands in the listing order, and the
/// flight as get-flight serves it.
#[derive(Debug)]
pub struct Listed {
    pub departure_at: DateTime<Utc>,
    pub id: Uuid,
    pub flight: Rendered<Flight>,
}

impl Listed {
    /// The total a passenger pays, read from the reply itself: one fact,
    /// kept once, for the few lists filtered by price.
    pub fn total(&self) -> Result<Money> {
        #[derive(Deserialize)]
        struct Priced {
            price: Total,
        }
        #[derive(Deserialize)]
        struct Total {
            total: Money,
        }
        let priced: Priced = serde_json::from_str(self.flight.json())
            .map_err(|e| unreadable(format!("a flight's price: {e}")))?;
        Ok(priced.price.total)
    }
}

/// Flights in `window`, in (departure, id) order, or `None` while the read
/// model is not yet whole (before its first rebuild, or after Redis lost
/// it): the caller reads PostgreSQL then. One round trip of plain
/// commands: the range of entries from the cursor, each with its reply.
pub async fn page(redis: &mut Tracked, window: &Window) -> Result<Option<Vec<Listed>>> {
    let listing = window.destination.as_ref().map_or_else(|| keys::LISTING.to_owned(), keys::listing_to);
    // Past the cursor's flight, or from the earliest departure, inclusive
    // (an entry sorts after its departure alone): whichever is later.
    let earliest = keys::departure(window.from);
    let start = match window.cursor.map(|(at, id)| keys::place(at, &id)) {
        Some(place) if place >= earliest => format!("[{}", keys::after(&place)),
        _ => format!("[{earliest}"),
    };
    let end = window.until.map_or_else(|| "+".to_owned(), |until| format!("({}", keys::departure(until)));
    let (ready, entries): (bool, Vec<String>) = redis::pipe()
        .cmd("EXISTS")
        .arg(keys::READY)
        .cmd("ZRANGE")
        .arg(listing)
        .arg(start)
        .arg(end)
        .arg("BYLEX")
        .arg("LIMIT")
        .arg(0)
        .arg(window.limit)
        .query_async(redis)
        .await?;
    if !ready {
        return Ok(None);
    }
    let mut flights = Vec::with_capacity(entries.len());
    for mut entry in entries {
        let (departure_at, id, reply) =
            keys::parse_entry(&entry).ok_or_else(|| unreadable(format!("an entry {entry:?}")))?;
        entry.drain(..reply);
        // An item of a list is about no one entity: no subject to write.
        flights.push(Listed { departure_at, id, flight: rendered(entry, None)? });
    }
    Ok(Some(flights))
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
/// (which PostgreSQL answers). Returns how many went, at most 1,000.
pub async fn trim(redis: &mut Redis, before: DateTime<Utc>) -> Result<u64> {
    let gone: u64 = TRIM
        .key(keys::LISTING)
        .arg(keys::departure(before))
        .arg(keys::VERSIONS_PREFIX)
        .arg(keys::REPLY_PREFIX)
        .arg(keys::LISTING_TO)
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

fn rendered(reply: String, subject: Option<String>) -> Result<Rendered<Flight>> {
    Rendered::from_stored(reply, subject).map_err(|e| unreadable(format!("a flight's reply: {e}")))
}

fn unreadable(what: String) -> shared::Error {
    anyhow::anyhow!("the flights read model holds what it cannot read: {what}").into()
}
