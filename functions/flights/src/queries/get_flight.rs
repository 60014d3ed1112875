//! get-flight: one flight, with its seats left and the price a passenger pays.

use serde::Deserialize;
use shared::auth::Access;
use shared::{Ctx, Dependency, Function, Rendered, Result, Spec};
use uuid::Uuid;

use crate::model::{self, Flight};
use crate::read_model;

pub const SPEC: Spec = Spec::new("get-flight", crate::SOURCE, Access::Public)
    .accepts(&["skybook.flight.get"])
    .replies("skybook.flight.found")
    .dependencies(&[Dependency::Postgres, Dependency::Redis]);

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetFlight {
    pub id: Uuid,
}

pub fn function() -> Function {
    Function::query(SPEC, get_flight)
}

/// From the read model, which holds every upcoming flight as this answers
/// it (kept in memory until Redis says it changed); from PostgreSQL for the
/// rest (history, a flight whose event is still on its way) and whenever
/// Redis cannot answer.
pub async fn get_flight(ctx: Ctx, input: GetFlight) -> Result<Rendered<Flight>> {
    let read = match ctx.tracked_redis() {
        Ok(mut redis) => read_model::get(&mut redis, input.id).await,
        Err(e) => Err(e),
    };
    match read {
        Ok(Some(flight)) => return Ok(flight),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "the flights read model did not answer; reading PostgreSQL"),
    }
    let mut conn = ctx.db().read().await?;
    let flight = model::fetch(conn.exec(), input.id).await?.ok_or_else(|| model::not_found(input.id))?;
    model::rendered(&flight)
}
