//! What the stats should be: read from PostgreSQL in one snapshot, a batch
//! of bookings per statement, and changed by journalled events the same way
//! the consumer changes Redis.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use domain::events::{BOOKING_CANCELLED, BOOKING_CREATED};
use serde::Deserialize;
use shared::{Ctx, Error, Result};
use uuid::Uuid;

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
    /// The event's `sequence` (as text: Lua's numbers are doubles).
    #[serde(deserialize_with = "number_in_text")]
    pub seq: i64,
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

    /// Whether the totals are the sums of the destinations, as every
    /// application keeps them: a cheap check, O(destinations), of keys
    /// someone changed by hand or half-restored.
    pub fn consistent(&self) -> bool {
        let bookings: i64 = self.destinations.values().map(|d| d.bookings).sum();
        let revenue: i64 = self.destinations.values().map(|d| d.revenue_cents).sum();
        bookings == self.bookings && revenue == self.revenue_cents
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

/// The stats PostgreSQL holds, and which booking events they include.
pub struct Snapshot {
    pub stats: Stats,
    /// Every booking event numbered at or below it is in the snapshot: the
    /// outbox's settled horizon when the snapshot was taken.
    pub horizon: i64,
    /// The booking events above the horizon that the snapshot holds too.
    pub above: BTreeSet<i64>,
}

impl Snapshot {
    /// Whether the event numbered `seq` is counted in these stats.
    pub fn holds(&self, seq: i64) -> bool {
        seq <= self.horizon || self.above.contains(&seq)
    }
}

/// Table pages one statement aggregates (8 KiB each, about 60 bookings a
/// page): each statement reads 32 MiB of the table in order and stays far
/// inside the statement timeout, whatever the size of history.
const PAGES: i64 = 4096;
/// How long a rebuild waits for transactions open at its start to end.
const HORIZON_WAIT: Duration = Duration::from_secs(10);

/// A destination's part of one batch: confirmed bookings, their revenue,
/// those with a pet, and passengers under 12 (every status).
type BatchRow = (Uuid, i64, i64, i64, i64);

/// Reads the stats PostgreSQL implies, in one repeatable-read snapshot and a
/// range of the bookings table's pages per statement (a TID range scan: the
/// table is read once, in order, whatever order its ids are in): memory
/// holds a destination's totals, not the bookings, and progress is logged.
pub async fn read(ctx: &Ctx) -> Result<Snapshot> {
    let horizon = shared::outbox::horizon(ctx.db(), HORIZON_WAIT).await?.ok_or_else(|| {
        Error::unavailable("transactions_open", "transactions older than the rebuild are still open")
    })?;
    let mut tx = ctx.db().begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(tx.exec()).await?;
    // Read after the snapshot is taken: every row it sees was written to a
    // page that already existed.
    let pages: i64 =
        sqlx::query_scalar("SELECT pg_relation_size('bookings') / current_setting('block_size')::bigint")
            .fetch_one(tx.exec())
            .await?;
    let mut stats = Stats::default();
    for first in (0..pages.max(1)).step_by(PAGES as usize) {
        let rows: Vec<BatchRow> = sqlx::query_as(
            "SELECT f.destination_id,
                    count(*) FILTER (WHERE b.status = 'confirmed'),
                    COALESCE(sum((b.total * 100)::bigint) FILTER (WHERE b.status = 'confirmed'), 0)::bigint,
                    count(*) FILTER (WHERE b.status = 'confirmed' AND b.has_pet),
                    count(*) FILTER (WHERE b.passenger_age < $3)
             FROM bookings b JOIN flights f ON f.id = b.flight_id
             WHERE b.ctid >= ('(' || $1 || ',0)')::tid AND b.ctid < ('(' || $2 || ',0)')::tid
             GROUP BY f.destination_id",
        )
        .bind(first)
        .bind(if first + PAGES >= pages { i64::from(u32::MAX - 1) } else { first + PAGES })
        .bind(keys::CANDY_AGE_LIMIT)
        .fetch_all(tx.exec())
        .await?;
        for (id, bookings, cents, pets, infants) in rows {
            let destination = stats.destinations.entry(id).or_default();
            destination.bookings += bookings;
            destination.revenue_cents += cents;
            stats.bookings += bookings;
            stats.revenue_cents += cents;
            stats.pet_bookings += pets;
            stats.infants += infants;
        }
        tracing::info!(pages_read = (first + PAGES).min(pages), pages, "rebuild: bookings read so far");
    }
    stats.candy_cost_cents = stats.infants * keys::CANDY_COST_CENTS;

    let ids: Vec<Uuid> = stats.destinations.keys().copied().collect();
    let names: Vec<(Uuid, String, i64)> =
        sqlx::query_as("SELECT id, name, version FROM destinations WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(tx.exec())
            .await?;
    for (id, name, version) in names {
        if let Some(destination) = stats.destinations.get_mut(&id) {
            (destination.name, destination.name_version) = (name, version);
        }
    }
    // The limit written into the statement, so the planner can match the
    // partial index on passengers under 12 under any plan.
    let newest_infants = format!(
        "SELECT id, passenger_name FROM bookings WHERE passenger_age < {}
         ORDER BY created_at DESC, id DESC LIMIT $1",
        keys::CANDY_AGE_LIMIT
    );
    let candy: Vec<(Uuid, String)> =
        sqlx::query_as(&newest_infants).bind(keys::CANDY_LOG_CAP).fetch_all(tx.exec()).await?;
    stats.candy_log = candy.iter().map(|(id, name)| keys::candy_entry(id, name)).collect();
    let above: Vec<i64> = sqlx::query_scalar("SELECT seq FROM outbox WHERE seq > $1 AND type IN ($2, $3)")
        .bind(horizon)
        .bind(BOOKING_CREATED)
        .bind(BOOKING_CANCELLED)
        .fetch_all(tx.exec())
        .await?;
    tx.commit().await?;
    Ok(Snapshot { stats, horizon, above: above.into_iter().collect() })
}

fn number_in_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<i64, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}
