//! What the stats should be: read from PostgreSQL in one snapshot, and
//! changed by journalled events the same way the consumer changes Redis.

use std::collections::BTreeMap;

use serde::Deserialize;
use shared::events::{BOOKING_CANCELLED, BOOKING_CREATED};
use shared::{Ctx, Result};
use sqlx::types::Json;
use uuid::Uuid;

use super::EventKeys;
use crate::keys;

/// Every value the stats keep, the candy log aside from the comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub revenue_cents: i64,
    pub bookings: i64,
    pub pet_bookings: i64,
    pub candy_cost_cents: i64,
    pub infants: i64,
    pub destinations: BTreeMap<Uuid, Destination>,
    /// Newest first, at most [`keys::CANDY_LOG_CAP`].
    pub candy_log: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Destination {
    pub name: String,
    pub name_version: i64,
    pub bookings: i64,
    pub revenue_cents: i64,
}

/// One event the consumer applied while a reconciliation ran (written by
/// `apply_booking.lua`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JournalEntry {
    pub event: String,
    pub sign: i64,
    pub cents: i64,
    pub pet: bool,
    pub candy: bool,
    pub destination: Uuid,
    pub name: String,
    pub entry: String,
}

impl Stats {
    pub const MEASURES: [&'static str; 6] =
        ["revenue_cents", "bookings", "pet_bookings", "candy_cost_cents", "infants", "destination_bookings"];

    /// Applies (`direction` 1) or takes back (-1) one journalled event, as
    /// the consumer's script does.
    pub fn apply(&mut self, e: &JournalEntry, direction: i64) {
        let sign = e.sign * direction;
        self.revenue_cents += sign * e.cents;
        self.bookings += sign;
        if e.pet {
            self.pet_bookings += sign;
        }
        let destination = self.destinations.entry(e.destination).or_default();
        destination.bookings += sign;
        destination.revenue_cents += sign * e.cents;
        if destination.name.is_empty() {
            destination.name.clone_from(&e.name);
        }
        if e.candy {
            self.candy_cost_cents += direction * keys::CANDY_COST_CENTS;
            self.infants += direction;
            if direction > 0 {
                self.candy_log.insert(0, e.entry.clone());
                self.candy_log.truncate(keys::CANDY_LOG_CAP as usize);
            }
        }
    }

    /// `self` minus `other`, by measure, leaving out those that agree; the
    /// destinations as the sum of their differences in bookings and revenue.
    pub fn drift(&self, other: &Stats) -> Vec<(&'static str, i64)> {
        let mut destinations = 0;
        let ids: std::collections::BTreeSet<&Uuid> =
            self.destinations.keys().chain(other.destinations.keys()).collect();
        for id in ids {
            let (mine, theirs) = (self.destinations.get(id), other.destinations.get(id));
            let field = |d: Option<&Destination>, f: fn(&Destination) -> i64| d.map_or(0, f);
            destinations += (field(mine, |d| d.bookings) - field(theirs, |d| d.bookings)).abs();
            destinations += (field(mine, |d| d.revenue_cents) - field(theirs, |d| d.revenue_cents)).abs();
        }
        [
            ("revenue_cents", self.revenue_cents - other.revenue_cents),
            ("bookings", self.bookings - other.bookings),
            ("pet_bookings", self.pet_bookings - other.pet_bookings),
            ("candy_cost_cents", self.candy_cost_cents - other.candy_cost_cents),
            ("infants", self.infants - other.infants),
            ("destination_bookings", destinations),
        ]
        .into_iter()
        .filter(|(_, v)| *v != 0)
        .collect()
    }
}

/// The stats PostgreSQL holds, and the booking events behind them.
pub struct Snapshot {
    pub stats: Stats,
    /// The booking events of the last [`keys::SEEN_TTL_SECS`]: those a
    /// broker or a replay could still deliver.
    pub events: EventKeys,
}

#[derive(Deserialize)]
struct Totals {
    revenue_cents: i64,
    bookings: i64,
    pet_bookings: i64,
    infants: i64,
}

#[derive(Deserialize)]
struct DestinationRow {
    id: Uuid,
    #[serde(flatten)]
    stats: Destination,
}

/// One statement, so one snapshot: the totals, each destination, the
/// latest candy and the events all agree with each other.
pub async fn read(ctx: &Ctx) -> Result<Snapshot> {
    #[allow(clippy::type_complexity)]
    let (totals, destinations, candy, events): (
        Json<Totals>,
        Json<Vec<DestinationRow>>,
        Json<Vec<(Uuid, String)>>,
        Vec<String>,
    ) = sqlx::query_as(
        "WITH b AS (
             SELECT b.id, b.status = 'confirmed' AS confirmed, b.has_pet, b.passenger_age,
                    b.passenger_name, (b.total * 100)::bigint AS cents, b.created_at, f.destination_id
             FROM bookings b JOIN flights f ON f.id = b.flight_id
         )
         SELECT
             (SELECT json_build_object(
                  'revenue_cents', COALESCE(sum(cents) FILTER (WHERE confirmed), 0),
                  'bookings', count(*) FILTER (WHERE confirmed),
                  'pet_bookings', count(*) FILTER (WHERE confirmed AND has_pet),
                  'infants', count(*) FILTER (WHERE passenger_age < $1))
              FROM b),
             (SELECT COALESCE(json_agg(json_build_object(
                  'id', d.id, 'name', d.name,
                  'name_version', d.version,
                  'bookings', x.bookings, 'revenue_cents', x.revenue_cents)), '[]')
              FROM (SELECT destination_id, count(*) FILTER (WHERE confirmed) AS bookings,
                           COALESCE(sum(cents) FILTER (WHERE confirmed), 0) AS revenue_cents
                    FROM b GROUP BY destination_id) x
              JOIN destinations d ON d.id = x.destination_id),
             (SELECT COALESCE(json_agg(json_build_array(id, passenger_name) ORDER BY created_at DESC, id DESC), '[]')
              FROM (SELECT id, passenger_name, created_at FROM b WHERE passenger_age < $1
                    ORDER BY created_at DESC, id DESC LIMIT $2) c),
             (SELECT COALESCE(array_agg(source || ' ' || event_id::text), '{}')
              FROM outbox WHERE type IN ($3, $4) AND created_at > now() - make_interval(secs => $5))",
    )
    .bind(keys::CANDY_AGE_LIMIT)
    .bind(keys::CANDY_LOG_CAP)
    .bind(BOOKING_CREATED)
    .bind(BOOKING_CANCELLED)
    .bind(keys::SEEN_TTL_SECS as f64)
    .fetch_one(ctx.db().read().await?.exec())
    .await?;
    let Json(totals) = totals;
    let stats = Stats {
        revenue_cents: totals.revenue_cents,
        bookings: totals.bookings,
        pet_bookings: totals.pet_bookings,
        candy_cost_cents: totals.infants * keys::CANDY_COST_CENTS,
        infants: totals.infants,
        destinations: destinations.0.into_iter().map(|d| (d.id, d.stats)).collect(),
        candy_log: candy.0.iter().map(|(id, name)| keys::candy_entry(id, name)).collect(),
    };
    Ok(Snapshot { stats, events: events.into_iter().collect() })
}
