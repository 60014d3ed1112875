//! list-flights: upcoming flights by departure, filtered, a page at a time.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use shared::auth::Access;
use shared::page::{Limit, Page};
use shared::{Ctx, Dependency, Function, Rendered, Result, Spec};
use uuid::Uuid;

use crate::model::{self, Flight, FlightRow, SELECT_FLIGHT};
use crate::read_model::{self, Listed, Window};

pub const SPEC: Spec = Spec::new("list-flights", crate::SOURCE, Access::Public)
    .accepts(&["skybook.flight.list"])
    .replies("skybook.flight.listed")
    .dependencies(&[Dependency::Postgres, Dependency::Redis]);

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

/// From the read model when it is whole and holds the departures asked
/// for (it keeps flights until hours after they leave); from PostgreSQL for
/// history, before the model's first rebuild, and whenever Redis cannot answer.
pub async fn list_flights(ctx: Ctx, input: ListFlights) -> Result<Page<Rendered<Flight>>> {
    let after = input.cursor.as_deref().map(shared::page::parse_time_cursor).transpose()?;
    let from = input.departs_after.unwrap_or_else(Utc::now);
    if from >= Utc::now() - read_model::KEPT_AFTER_DEPARTURE + TimeDelta::hours(1) {
        match from_read_model(&ctx, &input, from, after).await {
            Ok(Some(flights)) => {
                let page = Page::from_rows(flights, input.limit, |f| {
                    shared::page::time_cursor(f.departure_at, f.id)
                });
                return Ok(page.map(|listed| listed.flight));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "the flights read model did not answer; reading PostgreSQL"),
        }
    }
    from_database(&ctx, &input, from, after).await
}

/// A page from the read model, filtered by price as the SQL below is (the
/// total in each reply is the rule's, `PriceBreakdown`): reads on past the
/// flights that cost too much until the page is full or the window is done.
/// `None` while the model is not whole.
///
/// It reads from the minute `from` falls in and skips what departs before
/// `from`: the same read for a minute, which memory answers (a first page
/// asks from now, a different instant each time).
async fn from_read_model(
    ctx: &Ctx,
    input: &ListFlights,
    from: DateTime<Utc>,
    after: Option<(DateTime<Utc>, Uuid)>,
) -> Result<Option<Vec<Listed>>> {
    let want = input.limit.fetch() as usize;
    let minute = from.duration_trunc(TimeDelta::minutes(1)).unwrap_or(from);
    let mut window = Window {
        destination: input.destination_id,
        from: minute,
        until: input.departs_before,
        cursor: after,
        limit: want,
    };
    let mut redis = ctx.tracked_redis()?;
    let mut flights = Vec::with_capacity(want);
    loop {
        let Some(listed) = read_model::page(&mut redis, &window).await? else { return Ok(None) };
        let (read, last) = (listed.len(), listed.last().map(|f| (f.departure_at, f.id)));
        for flight in listed {
            if flights.len() == want {
                break;
            }
            if flight.departure_at < from {
                continue;
            }
            let affordable = match input.max_price {
                Some(max) => flight.total()?.amount() <= max,
                None => true,
            };
            if affordable {
                flights.push(flight);
            }
        }
        if flights.len() >= want || read < window.limit {
            return Ok(Some(flights));
        }
        window.cursor = last;
    }
}

async fn from_database(
    ctx: &Ctx,
    input: &ListFlights,
    from: DateTime<Utc>,
    after: Option<(DateTime<Utc>, Uuid)>,
) -> Result<Page<Rendered<Flight>>> {
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
        .bind(from)
        .bind(input.departs_before)
        .bind(input.max_price)
        .bind(after.map(|(time, _)| time))
        .bind(after.map(|(_, id)| id))
        .bind(input.limit.fetch())
        .fetch_all(ctx.db().read().await?.exec())
        .await?;
    let flights: Vec<Flight> = rows.iter().map(Flight::from).collect();
    Page::from_rows(flights, input.limit, model::cursor_of).try_map(|flight| model::rendered(&flight))
}
