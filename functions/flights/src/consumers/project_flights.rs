//! project-flights: keeps the flights read model in step with the events.
//! Each event names what changed (a booking's flight, a new flight, a
//! destination's terms, which every flight to it shows); the projection
//! reads those flights as they now are and keeps each if it is newer than
//! what the model holds, so deliveries in any order, twice, late or beside
//! a rebuild leave the newest there.

use chrono::Utc;
use domain::events::{BOOKING_CANCELLED, BOOKING_CREATED, DESTINATION_UPDATED, FLIGHT_CREATED};
use serde::Deserialize;
use shared::auth::Access;
use shared::cloudevent::Incoming;
use shared::{Ctx, Dependency, Function, Result, Spec};
use uuid::Uuid;

use crate::model;
use crate::read_model::{self, BATCH};

pub const SPEC: Spec = Spec::new("project-flights", crate::SOURCE, Access::Broker)
    .accepts(&[BOOKING_CREATED, BOOKING_CANCELLED, FLIGHT_CREATED, DESTINATION_UPDATED])
    .dependencies(&[Dependency::Postgres, Dependency::Redis]);

/// What an event says changed: a booking names its flight (`flight_id`); a
/// scheduled flight is the flight, and an updated destination the
/// destination (`id`). Other fields are ignored.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Changed {
    pub id: Uuid,
    pub flight_id: Option<Uuid>,
}

pub fn function() -> Function {
    Function::consumer(SPEC, project_flights)
}

pub async fn project_flights(ctx: Ctx, event: Incoming, changed: Changed) -> Result<()> {
    if event.ty == DESTINATION_UPDATED {
        return project_destination(&ctx, changed.id).await;
    }
    let flight = changed.flight_id.unwrap_or(changed.id);
    let row = {
        let mut conn = ctx.db().read().await?;
        model::fetch_row(conn.exec(), flight).await?
    };
    // A flight the database does not hold is no flight to show (an event
    // from a test, say): nothing to keep.
    if let Some(row) = row {
        read_model::store(&mut ctx.redis(), &[row]).await?;
    }
    Ok(())
}

/// A destination's new terms change the price and name every flight to it
/// shows: each of those the model holds is made again, a batch at a time.
async fn project_destination(ctx: &Ctx, destination: Uuid) -> Result<()> {
    let mut redis = ctx.redis();
    let from = Utc::now() - read_model::KEPT_AFTER_DEPARTURE;
    let mut cursor = None;
    loop {
        let rows = {
            let mut conn = ctx.db().read().await?;
            model::departing_after(conn.exec(), from, Some(destination), cursor, BATCH).await?
        };
        read_model::store(&mut redis, &rows).await?;
        if (rows.len() as i64) < BATCH {
            return Ok(());
        }
        cursor = rows.last().map(|r| (r.departure_at, r.id));
    }
}
