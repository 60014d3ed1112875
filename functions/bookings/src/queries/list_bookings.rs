//! list-bookings: bookings of a flight or of a passenger, oldest first, a page at a time.

use serde::Deserialize;
use shared::page::{Limit, Page, parse_time_cursor, time_cursor};
use shared::{Ctx, Function, Result, Spec};
use uuid::Uuid;

use crate::model::{Booking, BookingRow, SELECT_BOOKING, Visible};

pub const SPEC: Spec = Spec::new("list-bookings", crate::SOURCE, crate::model::READERS)
    .accepts(&["skybook.booking.list"])
    .replies("skybook.booking.listed");

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListBookings {
    pub flight_id: Option<Uuid>,
    /// The passenger's name, whatever its case.
    pub passenger_name: Option<String>,
    /// The passenger's subject (who owns the booking): for agents and
    /// admins; a passenger only ever sees their own.
    pub passenger_subject: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    #[serde(default)]
    pub limit: Limit,
}

pub fn function() -> Function {
    Function::query(SPEC, list_bookings)
}

pub async fn list_bookings(ctx: Ctx, input: ListBookings) -> Result<Page<Booking>> {
    let after = input.cursor.as_deref().map(parse_time_cursor).transpose()?;
    let visible = Visible::to(&ctx)?;
    let sql = format!(
        "{SELECT_BOOKING}
         WHERE ($1::uuid IS NULL OR b.flight_id = $1)
           AND ($2::text IS NULL OR lower(b.passenger_name) = lower($2))
           AND ($3::timestamptz IS NULL OR (b.created_at, b.id) > ($3, $4))
           AND ($6::text IS NULL OR b.owner = $6)
           AND ($7::text IS NULL OR b.owner = $7)
         ORDER BY b.created_at, b.id
         LIMIT $5"
    );
    let rows: Vec<BookingRow> = sqlx::query_as(&sql)
        .bind(input.flight_id)
        .bind(input.passenger_name.as_deref().map(str::trim))
        .bind(after.map(|(time, _)| time))
        .bind(after.map(|(_, id)| id))
        .bind(input.limit.fetch())
        .bind(visible.owner())
        .bind(input.passenger_subject.as_deref())
        .fetch_all(ctx.db().read().await?.exec())
        .await?;
    let bookings = rows.into_iter().map(Booking::from).collect();
    Ok(Page::from_rows(bookings, input.limit, |b: &Booking| time_cursor(b.created_at, b.id)))
}
