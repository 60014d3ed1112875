//! A flight as passengers see it: seats left and the price they would pay.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::db::Exec;
use shared::money::{Money, PriceBreakdown};
use shared::{Error, Reply};
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
}

impl From<FlightRow> for Flight {
    fn from(row: FlightRow) -> Self {
        Flight {
            id: row.id,
            flight_number: row.flight_number,
            destination_id: row.destination_id,
            destination_name: row.destination_name,
            departure_at: row.departure_at,
            capacity: row.capacity,
            seats_left: row.capacity - row.seats_taken,
            allows_pets: row.allows_pets,
            price: PriceBreakdown::quote(row.base_price, row.is_promotion, row.tax_amount),
            created_at: row.created_at,
        }
    }
}

/// The select every flight query starts from.
pub const SELECT_FLIGHT: &str = "
    SELECT f.id, f.flight_number, f.destination_id, d.name AS destination_name,
           d.tax_amount, d.is_promotion, d.allows_pets, f.base_price, f.departure_at,
           f.capacity, f.seats_taken, f.created_at
    FROM flights f JOIN destinations d ON d.id = f.destination_id";

/// The total a passenger pays, in SQL, for filtering by price. It must match
/// [`PriceBreakdown::quote`]: PostgreSQL's `round(numeric, 2)` rounds half
/// away from zero, like the rule. A test holds the two together.
pub const SQL_TOTAL: &str =
    "(CASE WHEN d.is_promotion THEN round(f.base_price * 0.90, 2) ELSE f.base_price END + d.tax_amount)";

pub async fn fetch(conn: Exec<'_>, id: Uuid) -> Result<Option<Flight>, Error> {
    let row: Option<FlightRow> =
        sqlx::query_as(&format!("{SELECT_FLIGHT} WHERE f.id = $1")).bind(id).fetch_optional(conn).await?;
    Ok(row.map(Flight::from))
}

pub fn not_found(id: Uuid) -> Error {
    Error::not_found("flight_not_found", format!("no flight with id {id}"))
}

/// The position of a flight in the listing order (departure, then id).
pub fn cursor_of(flight: &Flight) -> String {
    shared::page::time_cursor(flight.departure_at, flight.id)
}
