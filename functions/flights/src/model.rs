//! A flight as passengers see it: seats left and the price they would pay.
//! The slice's read API too: [`FlightRow`] is the flight with what its price
//! depends on, read here once for every slice that needs it (a booking, the
//! AI's market data), and [`seats`] the one place a seat is taken or freed.

use chrono::{DateTime, Utc};
use domain::money::{Money, PriceBreakdown};
use serde::{Deserialize, Serialize};
use shared::db::Exec;
use shared::{Error, Rendered, Reply};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Flight {
    pub id: Uuid,
    pub flight_number: String,
    pub destination_id: Uuid,
    pub destination_name: String,
    pub departure_at: DateTime<Utc>,
    pub capacity: i32,
    pub seats_left: i32,
    pub allows_pets: bool,
    /// What one passenger pays today: promotion and tax applied.
    pub price: PriceBreakdown,
    pub created_at: DateTime<Utc>,
}

impl Reply for Flight {
    fn subject(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}

/// A flight joined with the destination fields its price depends on.
#[derive(Debug, sqlx::FromRow)]
pub struct FlightRow {
    pub id: Uuid,
    pub flight_number: String,
    pub destination_id: Uuid,
    pub destination_name: String,
    pub tax_amount: Money,
    pub is_promotion: bool,
    pub allows_pets: bool,
    pub base_price: Money,
    pub departure_at: DateTime<Utc>,
    pub capacity: i32,
    pub seats_taken: i32,
    pub created_at: DateTime<Utc>,
    /// One higher with every change to the flight's row.
    pub version: i64,
    /// One higher with every change to the destination's row.
    pub destination_version: i64,
}

impl FlightRow {
    /// What one passenger pays today: promotion and tax applied.
    pub fn price(&self) -> PriceBreakdown {
        PriceBreakdown::quote(self.base_price, self.is_promotion, self.tax_amount)
    }

    pub fn seats_left(&self) -> i32 {
        self.capacity - self.seats_taken
    }
}

impl From<&FlightRow> for Flight {
    fn from(row: &FlightRow) -> Self {
        Flight {
            price: row.price(),
            seats_left: row.seats_left(),
            id: row.id,
            flight_number: row.flight_number.clone(),
            destination_id: row.destination_id,
            destination_name: row.destination_name.clone(),
            departure_at: row.departure_at,
            capacity: row.capacity,
            allows_pets: row.allows_pets,
            created_at: row.created_at,
        }
    }
}

/// The select every flight query starts from.
pub const SELECT_FLIGHT: &str = "
    SELECT f.id, f.flight_number, f.destination_id, d.name AS destination_name,
           d.tax_amount, d.is_promotion, d.allows_pets, f.base_price, f.departure_at,
           f.capacity, f.seats_taken, f.created_at, f.version, d.version AS destination_version
    FROM flights f JOIN destinations d ON d.id = f.destination_id";

/// The total a passenger pays, in SQL over [`SELECT_FLIGHT`]'s columns, for
/// filtering by price: the rule's own SQL form ([`PriceBreakdown::sql_total`]).
pub fn sql_total() -> String {
    PriceBreakdown::sql_total("f.base_price", "d.is_promotion", "d.tax_amount")
}

/// One flight, with what its price depends on.
pub async fn fetch_row(conn: Exec<'_>, id: Uuid) -> Result<Option<FlightRow>, Error> {
    Ok(sqlx::query_as(&format!("{SELECT_FLIGHT} WHERE f.id = $1")).bind(id).fetch_optional(conn).await?)
}

/// One flight, its row locked until the transaction ends: what a booking
/// reads, so the seats it counts are the ones it writes.
pub async fn fetch_row_for_update(conn: Exec<'_>, id: Uuid) -> Result<Option<FlightRow>, Error> {
    let sql = format!("{SELECT_FLIGHT} WHERE f.id = $1 FOR UPDATE OF f");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?)
}

pub async fn fetch(conn: Exec<'_>, id: Uuid) -> Result<Option<Flight>, Error> {
    Ok(fetch_row(conn, id).await?.as_ref().map(Flight::from))
}

/// Flights departing at `from` or later, to `destination` or any, in
/// (departure, id) order, after `cursor` when given: what the read model is
/// rebuilt and checked from.
pub async fn departing_after(
    conn: Exec<'_>,
    from: DateTime<Utc>,
    destination: Option<Uuid>,
    cursor: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<FlightRow>, Error> {
    let sql = format!(
        "{SELECT_FLIGHT}
         WHERE f.departure_at >= $1
           AND ($2::uuid IS NULL OR f.destination_id = $2)
           AND ($3::timestamptz IS NULL OR (f.departure_at, f.id) > ($3, $4))
         ORDER BY f.departure_at, f.id
         LIMIT $5"
    );
    Ok(sqlx::query_as(&sql)
        .bind(from)
        .bind(destination)
        .bind(cursor.map(|(at, _)| at))
        .bind(cursor.map(|(_, id)| id))
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

/// Which upcoming flights [`upcoming`] reads.
#[derive(Debug, Clone, Default)]
pub struct Upcoming {
    /// Earliest departure; now when absent.
    pub departs_after: Option<DateTime<Utc>>,
    pub departs_before: Option<DateTime<Utc>>,
    /// A part of the destination's name, any case.
    pub destination_pattern: Option<String>,
    pub limit: i64,
}

/// Upcoming flights by departure, with what their prices depend on.
pub async fn upcoming(conn: Exec<'_>, filter: &Upcoming) -> Result<Vec<FlightRow>, Error> {
    let sql = format!(
        "{SELECT_FLIGHT}
         WHERE f.departure_at >= COALESCE($1, now())
           AND ($2::timestamptz IS NULL OR f.departure_at < $2)
           AND ($3::text IS NULL OR d.name ILIKE '%' || $3 || '%')
         ORDER BY f.departure_at, f.id
         LIMIT $4"
    );
    Ok(sqlx::query_as(&sql)
        .bind(filter.departs_after)
        .bind(filter.departs_before)
        .bind(filter.destination_pattern.as_deref())
        .bind(filter.limit)
        .fetch_all(conn)
        .await?)
}

/// The seats of a flight, taken and given back by bookings: the flights
/// table is written here only. Each is a `WITH` clause on flight `$1`, for
/// the statement that records the booking or its cancellation: the seat
/// moves in the same round trip. The version moves on with it, so the read
/// model keeps the new count over the old.
pub mod seats {
    use sqlx::Postgres;
    use sqlx::postgres::PgArguments;
    use sqlx::query::Query;

    /// One more seat taken, in the booking's transaction (which holds the
    /// row from [`super::fetch_row_for_update`]).
    pub const TAKE: &str =
        "seat AS (UPDATE flights SET seats_taken = seats_taken + 1, version = version + 1 WHERE id = $1)";

    /// One more seat taken at a quote (a [`Flight`](super::Flight) as the
    /// read model showed it), with no lock held before: only while the
    /// flight is still as quoted (its number, departure and destination,
    /// and the price the rule gives now from the flight's and destination's
    /// rows), it departs later than now, a seat is left and, for a pet, the
    /// destination takes pets. Returns the flight's id when it took one.
    /// `$1` is the flight; the quote is bound from `$first` on by [`bind_quote`].
    pub fn take_as_quoted(first: usize) -> String {
        let p = |i: usize| format!("${}", first + i);
        format!(
            "seat AS (UPDATE flights f SET seats_taken = f.seats_taken + 1, version = f.version + 1
                      FROM destinations d
                      WHERE f.id = $1 AND d.id = f.destination_id
                        AND f.seats_taken < f.capacity AND f.departure_at > now()
                        AND (d.allows_pets OR NOT {}::boolean)
                        AND f.flight_number = {} AND f.departure_at = {} AND f.destination_id = {}
                        AND d.name = {} AND f.base_price = {} AND d.tax_amount = {} AND {} = {}
                      RETURNING f.id)",
            p(0),
            p(1),
            p(2),
            p(3),
            p(4),
            p(5),
            p(6),
            super::sql_total(),
            p(7),
        )
    }

    /// Binds the quote [`take_as_quoted`] checks, after the statement's
    /// own parameters up to `$first - 1`.
    pub fn bind_quote<'q>(
        query: Query<'q, Postgres, PgArguments>,
        flight: &super::Flight,
        has_pet: bool,
    ) -> Query<'q, Postgres, PgArguments> {
        query
            .bind(has_pet)
            .bind(flight.flight_number.clone())
            .bind(flight.departure_at)
            .bind(flight.destination_id)
            .bind(flight.destination_name.clone())
            .bind(flight.price.base_price)
            .bind(flight.price.tax)
            .bind(flight.price.total)
    }

    /// A seat given back, by a cancellation.
    pub const GIVE_BACK: &str =
        "seat AS (UPDATE flights SET seats_taken = seats_taken - 1, version = version + 1 WHERE id = $1)";
}

pub fn not_found(id: Uuid) -> Error {
    Error::not_found("flight_not_found", format!("no flight with id {id}"))
}

/// The position of a flight in the listing order (departure, then id).
pub fn cursor_of(flight: &Flight) -> String {
    shared::page::time_cursor(flight.departure_at, flight.id)
}

/// A flight as the read model serves it: written once, here.
pub fn rendered(flight: &Flight) -> Result<Rendered<Flight>, Error> {
    Ok(Rendered::new(flight, flight.subject()).map_err(anyhow::Error::from)?)
}
