//! A booking, its passenger, and the event data the stats consumer reads.

use chrono::{DateTime, Utc};
use domain::money::{Money, PriceBreakdown};
use serde::{Deserialize, Serialize};
use shared::Ctx;
use shared::auth::{Access, Role};
use shared::db::Exec;
use shared::{Error, Reply};
use uuid::Uuid;

/// A booking as replied and as carried by `skybook.booking.*` events: all a
/// consumer needs, so none has to call back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Booking {
    pub id: Uuid,
    pub status: BookingStatus,
    pub flight_id: Uuid,
    pub flight_number: String,
    pub departure_at: DateTime<Utc>,
    pub destination_id: Uuid,
    pub destination_name: String,
    pub passenger_name: String,
    pub passenger_age: i16,
    pub has_pet: bool,
    pub price: PriceBreakdown,
    pub created_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl Reply for Booking {
    fn subject(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum BookingStatus {
    Confirmed,
    Cancelled,
}

#[derive(sqlx::FromRow)]
pub struct BookingRow {
    id: Uuid,
    status: BookingStatus,
    flight_id: Uuid,
    flight_number: String,
    departure_at: DateTime<Utc>,
    destination_id: Uuid,
    destination_name: String,
    passenger_name: String,
    passenger_age: i16,
    has_pet: bool,
    base_price: Money,
    discount: Money,
    tax: Money,
    total: Money,
    created_at: DateTime<Utc>,
    cancelled_at: Option<DateTime<Utc>>,
}

impl From<BookingRow> for Booking {
    fn from(row: BookingRow) -> Self {
        Booking {
            id: row.id,
            status: row.status,
            flight_id: row.flight_id,
            flight_number: row.flight_number,
            departure_at: row.departure_at,
            destination_id: row.destination_id,
            destination_name: row.destination_name,
            passenger_name: row.passenger_name,
            passenger_age: row.passenger_age,
            has_pet: row.has_pet,
            price: PriceBreakdown {
                base_price: row.base_price,
                discount: row.discount,
                tax: row.tax,
                total: row.total,
            },
            created_at: row.created_at,
            cancelled_at: row.cancelled_at,
        }
    }
}

/// The select every booking query starts from.
pub const SELECT_BOOKING: &str = "
    SELECT b.id, b.status, b.flight_id, f.flight_number, f.departure_at, f.destination_id,
           d.name AS destination_name, b.passenger_name, b.passenger_age, b.has_pet,
           b.base_price, b.discount, b.tax, b.total, b.created_at, b.cancelled_at
    FROM bookings b
    JOIN flights f ON f.id = b.flight_id
    JOIN destinations d ON d.id = f.destination_id";

/// Who may read, list and cancel bookings: a passenger their own, agents
/// and admins every one.
pub const READERS: Access = Access::Roles(&[Role::Passenger, Role::Agent, Role::Admin]);

/// The roles that see every booking, not only their own.
const STAFF: &[Role] = &[Role::Agent, Role::Admin];

/// The bookings the caller may see: `Everyone`'s for staff, else its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visible {
    Everyone,
    OwnedBy(String),
}

impl Visible {
    pub fn to(ctx: &Ctx) -> Result<Visible, Error> {
        let caller = ctx.signed_in()?;
        Ok(if caller.is_any(STAFF) { Visible::Everyone } else { Visible::OwnedBy(caller.subject.clone()) })
    }

    /// The owner a query must match, bound as a nullable parameter.
    pub fn owner(&self) -> Option<&str> {
        match self {
            Visible::Everyone => None,
            Visible::OwnedBy(subject) => Some(subject),
        }
    }
}

/// One booking the caller may see; `lock` takes its row for the rest of the
/// transaction. Another's booking is `None`, as if it did not exist, so its
/// existence does not leak.
pub async fn fetch(
    conn: Exec<'_>,
    id: Uuid,
    visible: &Visible,
    lock: bool,
) -> Result<Option<Booking>, Error> {
    let sql = format!(
        "{SELECT_BOOKING} WHERE b.id = $1 AND ($2::text IS NULL OR b.owner = $2){}",
        if lock { " FOR UPDATE OF b" } else { "" }
    );
    let row: Option<BookingRow> =
        sqlx::query_as(&sql).bind(id).bind(visible.owner()).fetch_optional(conn).await?;
    Ok(row.map(Booking::from))
}

pub fn not_found(id: Uuid) -> Error {
    Error::not_found("booking_not_found", format!("no booking with id {id}"))
}

/// A passenger's name: trimmed, 1 to 120 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassengerName(String);

impl PassengerName {
    pub const MAX_CHARS: usize = 120;

    pub fn parse(raw: &str) -> Result<Self, Error> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > Self::MAX_CHARS {
            return Err(Error::rule(
                "invalid_passenger_name",
                format!("passenger_name must be 1 to {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(PassengerName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A passenger's age in whole years, 0 to 150: no other value can exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassengerAge(i16);

impl PassengerAge {
    pub const MAX: i64 = 150;

    pub fn get(self) -> i16 {
        self.0
    }
}

impl TryFrom<i64> for PassengerAge {
    type Error = Error;

    fn try_from(years: i64) -> Result<Self, Error> {
        match i16::try_from(years) {
            Ok(age) if (0..=Self::MAX).contains(&years) => Ok(PassengerAge(age)),
            _ => Err(Error::rule(
                "invalid_passenger_age",
                format!("passenger_age must be a whole number from 0 to {}, not {years}", Self::MAX),
            )),
        }
    }
}
