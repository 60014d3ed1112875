//! create-flight: schedules a flight to a destination.

use chrono::{DateTime, Utc};
use domain::events::FLIGHT_CREATED;
use domain::money::Money;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::auth::{Access, Role};
use shared::{Done, Error, Function, Result, Spec, Tx};
use uuid::Uuid;

use crate::model::{self, Flight};

pub const SPEC: Spec = Spec::new("create-flight", crate::SOURCE, Access::Roles(&[Role::Admin]))
    .accepts(&["skybook.flight.create"])
    .replies(FLIGHT_CREATED)
    .emits(&[FLIGHT_CREATED]);

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFlight {
    pub destination_id: Uuid,
    pub flight_number: String,
    pub base_price: Decimal,
    pub departure_at: DateTime<Utc>,
    pub capacity: i64,
}

/// A flight that keeps every rule: what the handler writes.
#[derive(Debug)]
pub struct NewFlight {
    destination_id: Uuid,
    flight_number: String,
    base_price: Money,
    departure_at: DateTime<Utc>,
    capacity: i32,
}

/// Seats on the largest airliner flying, with room to spare.
pub const MAX_CAPACITY: i64 = 1_000;

impl NewFlight {
    /// Upper case, 2 to 8 letters or digits.
    pub fn flight_number(&self) -> &str {
        &self.flight_number
    }

    /// Greater than zero.
    pub fn base_price(&self) -> Money {
        self.base_price
    }

    /// 1 to [`MAX_CAPACITY`].
    pub fn capacity(&self) -> i32 {
        self.capacity
    }

    /// In the future when validated.
    pub fn departure_at(&self) -> DateTime<Utc> {
        self.departure_at
    }
}

impl TryFrom<CreateFlight> for NewFlight {
    type Error = Error;

    fn try_from(input: CreateFlight) -> Result<Self> {
        let flight_number = input.flight_number.trim().to_ascii_uppercase();
        let valid_number = (2..=8).contains(&flight_number.len())
            && flight_number.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !valid_number {
            return Err(Error::rule(
                "invalid_flight_number",
                "flight_number must be 2 to 8 letters or digits, like SK123",
            ));
        }
        let base_price = Money::try_new(input.base_price).ok().filter(|m| !m.is_zero()).ok_or_else(|| {
            Error::rule(
                "invalid_base_price",
                "base_price must be greater than 0, below 100000000.00, with at most two decimals",
            )
        })?;
        if !(1..=MAX_CAPACITY).contains(&input.capacity) {
            return Err(Error::rule(
                "invalid_capacity",
                format!("capacity must be between 1 and {MAX_CAPACITY}"),
            ));
        }
        if input.departure_at <= Utc::now() {
            return Err(Error::rule("departure_in_past", "departure_at must be in the future"));
        }
        Ok(NewFlight {
            destination_id: input.destination_id,
            flight_number,
            base_price,
            departure_at: input.departure_at,
            capacity: input.capacity as i32,
        })
    }
}

pub fn function() -> Function {
    Function::command(SPEC, create_flight)
}

pub async fn create_flight(mut tx: Tx, input: CreateFlight) -> Result<Done<Flight>> {
    let new = NewFlight::try_from(input)?;
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO flights (id, destination_id, flight_number, base_price, departure_at, capacity)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(new.destination_id)
    .bind(&new.flight_number)
    .bind(new.base_price)
    .bind(new.departure_at)
    .bind(new.capacity)
    .execute(tx.conn())
    .await
    .map_err(|e| match shared::db::violated_constraint(&e) {
        // The destination is named in the body, not the address: a missing one
        // is a refused command (422), not a 404 the broker would retry.
        Some("flights_destination_id_fkey") => {
            Error::rule("unknown_destination", format!("no destination with id {}", new.destination_id))
        }
        Some("flights_number_departure_key") => Error::rule(
            "flight_exists",
            format!("flight {} already departs at {}", new.flight_number, new.departure_at),
        ),
        _ => e.into(),
    })?;
    let flight = model::fetch(tx.conn(), id).await?.ok_or_else(|| model::not_found(id))?;
    // The flights read model learns of it from the event.
    tx.emit(FLIGHT_CREATED, id.to_string(), &flight).await?;
    tx.commit(flight).await
}
