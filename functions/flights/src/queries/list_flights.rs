//! list-flights: upcoming flights by departure, filtered, a page at a time.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use shared::auth::Access;
use shared::page::{Limit, Page};
use shared::{Ctx, Function, Result, Spec};
use uuid::Uuid;

use crate::model::{self, Flight, FlightRow, SELECT_FLIGHT};

pub const SPEC: Spec = Spec::new("list-flights", crate::SOURCE, Access::Public)
    .accepts(&["skybook.flight.list"])
    .replies("skybook.flight.listed");

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListFlights {
    pub destination_id: Option<Uuid>,
    /// Earliest departure; now when absent, so past flights stay out.
    pub departs_after: Option<DateTime<Utc>>,
    /// Departures strictly before this.
    pub departs_before: Option<DateTime<Utc>>,
    /// Highest total a passenger would pay, promotion and tax included.
    pub max_price: Option<Decimal>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    #[serde(default)]
    pub limit: Limit,
}

pub fn function() -> Function {
    Function::query(SPEC, list_flights)
}

pub async fn list_flights(ctx: Ctx, input: ListFlights) -> Result<Page<Flight>> {
    let after = input.cursor.as_deref().map(shared::page::parse_time_cursor).transpose()?;
    let total = model::sql_total();
    let sql = format!(
        "{SELECT_FLIGHT}
         WHERE ($1::uuid IS NULL OR f.destination_id = $1)
           AND f.departure_at >= $2
           AND ($3::timestamptz IS NULL OR f.departure_at < $3)
           AND ($4::numeric IS NULL OR {total} <= $4)
           AND ($5::timestamptz IS NULL OR (f.departure_at, f.id) > ($5, $6))
         ORDER BY f.departure_at, f.id
         LIMIT $7"
    );
    let rows: Vec<FlightRow> = sqlx::query_as(&sql)
        .bind(input.destination_id)
        .bind(input.departs_after.unwrap_or_else(Utc::now))
        .bind(input.departs_before)
        .bind(input.max_price)
        .bind(after.map(|(time, _)| time))
        .bind(after.map(|(_, id)| id))
        .bind(input.limit.fetch())
        .fetch_all(ctx.db().read().await?.exec())
        .await?;
    let flights = rows.into_iter().map(Flight::from).collect();
    Ok(Page::from_rows(flights, input.limit, model::cursor_of))
}
