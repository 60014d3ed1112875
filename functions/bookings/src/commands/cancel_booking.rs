//! cancel-booking: cancels a booking, frees its seat, and emits
//! `skybook.booking.cancelled` through the outbox.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::{Done, Error, Function, Result, Spec, Tx};
use uuid::Uuid;

use crate::model::{self, Booking, BookingStatus, Visible};

pub const SPEC: Spec = Spec::new("cancel-booking", crate::SOURCE, crate::model::READERS)
    .accepts(&["skybook.booking.cancel"])
    .replies(crate::BOOKING_CANCELLED)
    .emits(&[crate::BOOKING_CANCELLED]);

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBooking {
    pub id: Uuid,
}

pub fn function() -> Function {
    Function::command(SPEC, cancel_booking)
}

/// Cancels a booking and gives its seat back, in one statement (one round trip).
static CANCEL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {} UPDATE bookings SET status = 'cancelled', cancelled_at = now() WHERE id = $2
         RETURNING cancelled_at",
        flights::model::seats::GIVE_BACK
    )
});

pub async fn cancel_booking(mut tx: Tx, input: CancelBooking) -> Result<Done<Booking>> {
    let visible = Visible::to(tx.ctx())?;
    let mut booking =
        model::fetch(tx.conn(), input.id, &visible, true).await?.ok_or_else(|| model::not_found(input.id))?;
    if booking.status == BookingStatus::Cancelled {
        // Cancelling twice changes nothing and emits nothing.
        return tx.commit(booking).await;
    }
    if booking.departure_at <= Utc::now() {
        return Err(Error::rule(
            "flight_departed",
            format!("flight {} has already departed; its bookings stand", booking.flight_number),
        ));
    }
    let cancelled_at: DateTime<Utc> =
        sqlx::query_scalar(&CANCEL).bind(booking.flight_id).bind(booking.id).fetch_one(tx.conn()).await?;
    booking.status = BookingStatus::Cancelled;
    booking.cancelled_at = Some(cancelled_at);
    tx.emit(crate::BOOKING_CANCELLED, booking.id.to_string(), &booking).await?;
    tx.commit(booking).await
}
