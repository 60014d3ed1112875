//! get-flight: one flight, with its seats left and the price a passenger pays.

use serde::Deserialize;
use shared::auth::Access;
use shared::{Ctx, Function, Result, Spec};
use uuid::Uuid;

use crate::model::{self, Flight};

pub const SPEC: Spec = Spec::new("get-flight", crate::SOURCE, Access::Public)
    .accepts(&["skybook.flight.get"])
    .replies("skybook.flight.found");

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetFlight {
    pub id: Uuid,
}

pub fn function() -> Function {
    Function::query(SPEC, get_flight)
}

pub async fn get_flight(ctx: Ctx, input: GetFlight) -> Result<Flight> {
    let mut conn = ctx.db().read().await?;
    model::fetch(conn.exec(), input.id).await?.ok_or_else(|| model::not_found(input.id))
}
