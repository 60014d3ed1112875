//! create-booking: takes a seat on a flight at the price of the rule, and
//! emits `skybook.booking.created` through the outbox.

use std::sync::LazyLock;

use chrono::{DateTime, SubsecRound, Utc};
use flights::model::Flight;
use serde::{Deserialize, Serialize};
use shared::auth::Access;
use shared::auth::users::MAX_SUBJECT;
use shared::auth::{Caller, Role};
use shared::{Dependency, Done, Error, Function, OneShot, Result, Spec, Tx};
use uuid::Uuid;

use crate::model::{Booking, BookingStatus, PassengerAge, PassengerName};

pub const SPEC: Spec =
    Spec::new("create-booking", crate::SOURCE, Access::Roles(&[Role::Passenger, Role::Agent]))
        .accepts(&["skybook.booking.create"])
        .replies(crate::BOOKING_CREATED)
        .emits(&[crate::BOOKING_CREATED])
        .dependencies(&[Dependency::Postgres, Dependency::Redis]);

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBooking {
    pub flight_id: Uuid,
    pub passenger_name: String,
    /// Whole years, 0 to 150; a fraction or a string is refused before any rule runs.
    #[schemars(range(min = 0, max = 150))]
    pub passenger_age: i64,
    #[serde(default)]
    pub has_pet: bool,
    /// Whose booking it is: an agent books for the passenger it names here;
    /// a passenger books for themself and leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passenger_subject: Option<String>,
}

/// A booking request that keeps every rule: what the handler books.
#[derive(Debug)]
pub struct NewBooking {
    /// The subject the booking belongs to.
    pub owner: String,
    pub flight_id: Uuid,
    pub passenger_name: PassengerName,
    pub passenger_age: PassengerAge,
    pub has_pet: bool,
}

impl NewBooking {
    /// The booking `caller` asks for: for themself as a passenger, or for
    /// the named passenger as an agent.
    pub fn for_caller(caller: &Caller, input: CreateBooking) -> Result<Self> {
        let owner = match input.passenger_subject {
            Some(named) if named != caller.subject => {
                if !caller.is(Role::Agent) {
                    return Err(Error::Forbidden {
                        message: "only an agent books for another passenger".into(),
                    });
                }
                if named.trim().is_empty() || named.len() > MAX_SUBJECT {
                    return Err(Error::rule(
                        "invalid_passenger_subject",
                        format!("passenger_subject must be 1 to {MAX_SUBJECT} bytes"),
                    ));
                }
                named
            }
            _ if caller.is(Role::Passenger) => caller.subject.clone(),
            _ => {
                return Err(Error::rule(
                    "passenger_subject_required",
                    "an agent books for a named passenger: set passenger_subject",
                ));
            }
        };
        Ok(NewBooking {
            owner,
            flight_id: input.flight_id,
            passenger_name: PassengerName::parse(&input.passenger_name)?,
            passenger_age: PassengerAge::try_from(input.passenger_age)?,
            has_pet: input.has_pet,
        })
    }

    /// Why `flight` cannot take this booking, if a rule says so.
    fn refusal(&self, flight: &Flight) -> Option<Error> {
        if flight.departure_at <= Utc::now() {
            return Some(Error::rule(
                "flight_departed",
                format!("flight {} has already departed", flight.flight_number),
            ));
        }
        if self.has_pet && !flight.allows_pets {
            return Some(Error::rule(
                "pets_not_allowed",
                format!("El destino {} no acepta mascotas", flight.destination_name),
            ));
        }
        if flight.seats_left <= 0 {
            return Some(Error::rule("sold_out", format!("flight {} is sold out", flight.flight_number)));
        }
        None
    }

    /// The booking on `flight`, at the price it shows, as replied and sent.
    fn confirmed(&self, id: Uuid, flight: &Flight, created_at: DateTime<Utc>) -> Booking {
        Booking {
            id,
            status: BookingStatus::Confirmed,
            flight_id: self.flight_id,
            flight_number: flight.flight_number.clone(),
            departure_at: flight.departure_at,
            destination_id: flight.destination_id,
            destination_name: flight.destination_name.clone(),
            passenger_name: self.passenger_name.as_str().to_owned(),
            passenger_age: self.passenger_age.get(),
            has_pet: self.has_pet,
            price: flight.price,
            created_at,
            cancelled_at: None,
        }
    }
}

pub fn function() -> Function {
    Function::command_with_shortcut(SPEC, book_as_quoted, create_booking)
}

/// What [`book_as_quoted`] sends: the seat taken at the quote, then the
/// booking, then (by the runtime) its event and the key with its reply.
static AS_QUOTED: LazyLock<String> = LazyLock::new(|| {
    let write = format!(
        "{},
         written AS (
           INSERT INTO bookings (flight_id, id, passenger_name, passenger_age, has_pet, status,
                                 base_price, discount, tax, total, idempotency_key, owner, created_at)
           SELECT $1, $2, $3, $4, $5, 'confirmed', $6, $7, $8, $9, $10, $11, $12 FROM seat
           RETURNING id)",
        flights::model::seats::take_as_quoted(13)
    );
    OneShot::statement(&write, 20)
});

/// The statement [`book_as_quoted`] sends, for the benchmark to run as is.
pub fn as_quoted_statement() -> &'static str {
    &AS_QUOTED
}

/// The booking as one statement, at the flight the read model quotes: the
/// seat, the booking, its event and its reply, committed together only if
/// the flight is still as quoted and a seat is left (one round trip, no
/// lock held in between). Declines whenever memory or Redis has no quote,
/// the quote is stale, or a rule would refuse: [`create_booking`] then
/// reads the flight under its lock, and books or says why.
pub async fn book_as_quoted(mut shot: OneShot, input: CreateBooking) -> Result<Option<Done<Booking>>> {
    let new = NewBooking::for_caller(shot.ctx().signed_in()?, input)?;
    let quote = match shot.ctx().tracked_redis() {
        Ok(mut redis) => flights::read_model::quote(&mut redis, new.flight_id).await,
        Err(e) => Err(e),
    };
    let flight = match quote {
        Ok(Some(flight)) => flight,
        Ok(None) => return Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "the flights read model did not quote; booking under the flight's lock");
            return Ok(None);
        }
    };
    if new.refusal(&flight).is_some() {
        return Ok(None);
    }
    // PostgreSQL keeps microseconds: the row, the event and the reply agree.
    let booking = new.confirmed(Uuid::now_v7(), &flight, Utc::now().trunc_subsecs(6));
    shot.emit(crate::BOOKING_CREATED, booking.id.to_string(), &booking)?;
    let query = sqlx::query(&AS_QUOTED)
        .bind(new.flight_id)
        .bind(booking.id)
        .bind(booking.passenger_name.clone())
        .bind(booking.passenger_age)
        .bind(new.has_pet)
        .bind(booking.price.base_price)
        .bind(booking.price.discount)
        .bind(booking.price.tax)
        .bind(booking.price.total)
        .bind(shot.idempotency_key().map(str::to_owned))
        .bind(new.owner.clone())
        .bind(booking.created_at);
    let query = flights::model::seats::bind_quote(query, &flight, new.has_pet);
    shot.commit(query, booking).await
}

/// Records a booking and takes its seat, in one statement (one round trip).
static RECORD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {}
         INSERT INTO bookings (flight_id, id, passenger_name, passenger_age, has_pet, status,
                               base_price, discount, tax, total, idempotency_key, owner)
         VALUES ($1, $2, $3, $4, $5, 'confirmed', $6, $7, $8, $9, $10, $11)
         RETURNING created_at",
        flights::model::seats::TAKE
    )
});

pub async fn create_booking(mut tx: Tx, input: CreateBooking) -> Result<Done<Booking>> {
    let new = NewBooking::for_caller(tx.ctx().signed_in()?, input)?;
    // Locking the flight row serialises bookings of one flight, so the seat
    // count read here is the one written below: never above capacity.
    let row = flights::model::fetch_row_for_update(tx.conn(), new.flight_id)
        .await?
        .ok_or_else(|| Error::rule("unknown_flight", format!("no flight with id {}", new.flight_id)))?;
    let flight = Flight::from(&row);
    if let Some(refusal) = new.refusal(&flight) {
        return Err(refusal);
    }

    let price = flight.price;
    let id = Uuid::now_v7();
    let key = tx.idempotency_key().map(str::to_owned);
    let created_at: DateTime<Utc> = sqlx::query_scalar(&RECORD)
        .bind(new.flight_id)
        .bind(id)
        .bind(new.passenger_name.as_str())
        .bind(new.passenger_age.get())
        .bind(new.has_pet)
        .bind(price.base_price)
        .bind(price.discount)
        .bind(price.tax)
        .bind(price.total)
        .bind(key)
        .bind(&new.owner)
        .fetch_one(tx.conn())
        .await?;

    let booking = new.confirmed(id, &flight, created_at);
    tx.emit(crate::BOOKING_CREATED, id.to_string(), &booking).await?;
    tx.commit(booking).await
}
