//! record-booking-stats: applies `skybook.booking.created` and `.cancelled`
//! to the Redis stats, each event exactly once however often it is delivered,
//! remembering what it applied by the event's `sequence` (see `keys`).

use shared::auth::Access;
use std::sync::LazyLock;

use domain::events::{BOOKING_CANCELLED, BOOKING_CREATED};
use domain::money::Money;
use serde::Deserialize;
use shared::cloudevent::Incoming;
use shared::{Ctx, Dependency, Function, Result, Spec};
use uuid::Uuid;

use crate::keys;

pub const SPEC: Spec = Spec::new("record-booking-stats", crate::SOURCE, Access::Broker)
    .accepts(&[BOOKING_CREATED, BOOKING_CANCELLED])
    .dependencies(&[Dependency::Redis]);

/// The part of a booking event the stats read. Other fields are ignored, so
/// the producer can add to the event without breaking this consumer.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct BookingEvent {
    pub id: Uuid,
    pub destination_id: Uuid,
    pub destination_name: String,
    pub passenger_name: String,
    pub passenger_age: i16,
    pub has_pet: bool,
    pub price: Price,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Price {
    pub total: Money,
}

/// Loaded once; Redis runs it by its SHA and reloads it if it has forgotten.
static APPLY: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("apply_booking.lua")));

pub fn function() -> Function {
    crate::count_duplicates_of(SPEC.name);
    Function::consumer(SPEC, record_booking_stats)
}

pub async fn record_booking_stats(ctx: Ctx, event: Incoming, booking: BookingEvent) -> Result<()> {
    let seq = event.sequence()?;
    let sign: i64 = if event.ty == BOOKING_CANCELLED { -1 } else { 1 };
    let gets_candy = booking.passenger_age < keys::CANDY_AGE_LIMIT;
    let (chunk, bit) = keys::applied(seq);
    let applied: i64 = APPLY
        .key(keys::APPLIED_FLOOR)
        .key(chunk)
        .key(keys::OWED)
        .key(keys::TOTAL_REVENUE_CENTS)
        .key(keys::TOTAL_BOOKINGS)
        .key(keys::PET_BOOKINGS)
        .key(keys::destination(&booking.destination_id))
        .key(keys::TOTAL_CANDY_COST_CENTS)
        .key(keys::TOTAL_INFANT_COUNT)
        .key(keys::CANDY_LOG)
        .key(keys::POPULARITY)
        .key(keys::RECONCILING)
        .key(keys::JOURNAL)
        .arg(seq)
        .arg(bit)
        .arg(sign)
        .arg(booking.price.total.to_cents())
        .arg(u8::from(booking.has_pet))
        .arg(u8::from(gets_candy))
        .arg(keys::CANDY_COST_CENTS)
        .arg(keys::candy_entry(&booking.id, &booking.passenger_name))
        .arg(keys::CANDY_LOG_CAP)
        .arg(booking.destination_id.to_string())
        .arg(&booking.destination_name)
        .invoke_async(&mut ctx.redis())
        .await?;
    if applied == 0 {
        crate::duplicate(SPEC.name);
        tracing::info!(event_id = %event.id, seq, "already applied; ignored");
    }
    Ok(())
}
