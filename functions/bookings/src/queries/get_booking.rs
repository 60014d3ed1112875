//! get-booking: one booking with its price breakdown and status.

use serde::Deserialize;
use shared::{Ctx, Function, Result, Spec};
use uuid::Uuid;

use crate::model::{self, Booking, Visible};

pub const SPEC: Spec = Spec::new("get-booking", crate::SOURCE, crate::model::READERS)
    .accepts(&["skybook.booking.get"])
    .replies("skybook.booking.found");

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetBooking {
    pub id: Uuid,
}

pub fn function() -> Function {
    Function::query(SPEC, get_booking)
}

pub async fn get_booking(ctx: Ctx, input: GetBooking) -> Result<Booking> {
    let visible = Visible::to(&ctx)?;
    let mut conn = ctx.db().read().await?;
    model::fetch(conn.exec(), input.id, &visible, false).await?.ok_or_else(|| model::not_found(input.id))
}
