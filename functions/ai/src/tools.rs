//! The retrieval tools the model may call: market data from PostgreSQL and
//! demand from Redis. Arguments are validated like any input, and every
//! query is bounded.

use chrono::{DateTime, Utc};
use domain::money::Money;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::{Ctx, Error};

use crate::groq::{ToolFunction, ToolSpec};

pub const MARKET_DATA: &str = "market_data";
pub const DEMAND: &str = "demand";
/// Flights one market_data call returns at most.
pub const MAX_FLIGHTS: i64 = 20;
/// Destinations one demand call returns at most, most booked first.
pub const MAX_DESTINATIONS: usize = 100;

/// The tools as offered to the model.
pub fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            kind: "function",
            function: ToolFunction {
                name: MARKET_DATA,
                description: "Upcoming flights from the database: flight number, destination, departure, \
                              base price, the total a passenger pays (promotion and tax applied), seats left, \
                              whether pets are allowed. Filter by destination name and departure dates.",
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "destination": {"type": "string", "description": "Destination name, or part of it"},
                        "departs_after": {"type": "string", "format": "date-time"},
                        "departs_before": {"type": "string", "format": "date-time"},
                        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_FLIGHTS}
                    },
                    "additionalProperties": false
                }),
            },
        },
        ToolSpec {
            kind: "function",
            function: ToolFunction {
                name: DEMAND,
                description: "Booking demand from the live stats: bookings and revenue per destination, \
                              pet bookings, totals.",
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "destination": {"type": "string", "description": "Only this destination"}
                    },
                    "additionalProperties": false
                }),
            },
        },
    ]
}

/// The arguments of market_data as the model sends them.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketQuery {
    pub destination: Option<String>,
    pub departs_after: Option<DateTime<Utc>>,
    pub departs_before: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
}

/// The arguments of demand as the model sends them.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DemandQuery {
    pub destination: Option<String>,
}

/// A tool call the model asked for, its arguments checked: what runs.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolRequest {
    MarketData(MarketFilter),
    /// Demand for one destination (its name, trimmed), or the most booked.
    Demand(Option<String>),
}

/// market_data's arguments, bounded: a limit in 1..=[`MAX_FLIGHTS`] and a
/// destination of at most 120 characters, matched as text, never as a pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketFilter {
    limit: i64,
    /// The destination with `\`, `%` and `_` escaped, for ILIKE.
    destination_pattern: Option<String>,
    departs_after: Option<DateTime<Utc>>,
    departs_before: Option<DateTime<Utc>>,
}

impl MarketFilter {
    pub fn limit(&self) -> i64 {
        self.limit
    }

    pub fn destination_pattern(&self) -> Option<&str> {
        self.destination_pattern.as_deref()
    }
}

impl TryFrom<MarketQuery> for MarketFilter {
    type Error = String;

    fn try_from(query: MarketQuery) -> Result<Self, String> {
        let limit = query.limit.unwrap_or(10);
        if !(1..=MAX_FLIGHTS).contains(&limit) {
            return Err(format!("limit must be between 1 and {MAX_FLIGHTS}"));
        }
        let destination_pattern = query
            .destination
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| d.chars().take(120).collect::<String>())
            .map(|d| d.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        Ok(MarketFilter {
            limit,
            destination_pattern,
            departs_after: query.departs_after,
            departs_before: query.departs_before,
        })
    }
}

impl ToolRequest {
    /// Reads a tool call: the tool's name and its JSON arguments (empty reads
    /// as `{}`). The error is a message for the model, which may try again.
    pub fn parse(name: &str, arguments: &str) -> Result<Self, String> {
        let arguments = if arguments.trim().is_empty() { "{}" } else { arguments };
        match name {
            MARKET_DATA => serde_json::from_str::<MarketQuery>(arguments)
                .map_err(|e| format!("invalid arguments for {MARKET_DATA}: {}", clipped(&e.to_string())))
                .and_then(MarketFilter::try_from)
                .map(ToolRequest::MarketData),
            DEMAND => serde_json::from_str::<DemandQuery>(arguments)
                .map_err(|e| format!("invalid arguments for {DEMAND}: {}", clipped(&e.to_string())))
                .map(|q| ToolRequest::Demand(q.destination.map(|d| d.trim().to_owned()))),
            other => Err(format!("there is no tool named {}", clipped(other))),
        }
    }
}

/// Refusals quote what the model sent (an unknown field, say): at most
/// [`MAX_QUOTED`] characters of it, so a refusal never grows the prompt much.
fn clipped(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

const MAX_QUOTED: usize = 200;

/// A flight as the model reads it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MarketFlight {
    pub flight_number: String,
    pub destination: String,
    pub departure_at: DateTime<Utc>,
    pub base_price: Money,
    pub total_price: Money,
    pub tax_amount: Money,
    pub on_promotion: bool,
    pub allows_pets: bool,
    pub capacity: i32,
    pub seats_left: i32,
}

impl From<flights::model::FlightRow> for MarketFlight {
    fn from(row: flights::model::FlightRow) -> Self {
        MarketFlight {
            total_price: row.price().total,
            seats_left: row.seats_left(),
            flight_number: row.flight_number,
            destination: row.destination_name,
            departure_at: row.departure_at,
            base_price: row.base_price,
            tax_amount: row.tax_amount,
            on_promotion: row.is_promotion,
            allows_pets: row.allows_pets,
            capacity: row.capacity,
        }
    }
}

/// What a tool call did: its result for the model, and a line for the caller.
pub struct Outcome {
    pub result: Value,
    pub summary: String,
}

/// Runs a tool call. Bad arguments are not an error of the request: the
/// model is told what was wrong, and may try again.
pub async fn run(ctx: &Ctx, name: &str, arguments: &str) -> Result<Outcome, Error> {
    match ToolRequest::parse(name, arguments) {
        Ok(ToolRequest::MarketData(filter)) => market_data(ctx, filter).await,
        Ok(ToolRequest::Demand(destination)) => demand(ctx, destination.as_deref()).await,
        Err(message) => Ok(refused(message)),
    }
}

fn refused(message: String) -> Outcome {
    Outcome { summary: message.clone(), result: json!({ "error": message }) }
}

pub async fn market_data(ctx: &Ctx, filter: MarketFilter) -> Result<Outcome, Error> {
    let upcoming = flights::model::Upcoming {
        departs_after: filter.departs_after,
        departs_before: filter.departs_before,
        destination_pattern: filter.destination_pattern,
        limit: filter.limit,
    };
    let rows = flights::model::upcoming(ctx.db().read().await?.exec(), &upcoming).await?;
    let flights: Vec<MarketFlight> = rows.into_iter().map(MarketFlight::from).collect();
    Ok(Outcome {
        summary: format!("{} flights from the database", flights.len()),
        result: json!({ "flights": flights }),
    })
}

pub async fn demand(ctx: &Ctx, destination: Option<&str>) -> Result<Outcome, Error> {
    let mut redis = ctx.redis();
    let totals = stats::read::totals(&mut redis).await?;
    // The consumer keeps destinations ranked in a sorted set and keyed by
    // id: one destination is found by name in PostgreSQL, then read by id.
    let destinations = match destination {
        Some(name) => {
            let ids = destinations::model::ids_named(ctx.db().read().await?.exec(), name).await?;
            stats::read::of(&mut redis, &ids).await?
        }
        None => stats::read::most_booked(&mut redis, MAX_DESTINATIONS).await?,
    };
    let destinations: Vec<Value> = destinations
        .into_iter()
        .map(|d| json!({"destination": d.name, "bookings": d.bookings, "revenue": d.revenue}))
        .collect();
    Ok(Outcome {
        summary: format!("demand for {} destinations from the live stats", destinations.len()),
        result: json!({
            "total_bookings": totals.bookings,
            "total_revenue": totals.revenue,
            "pet_bookings": totals.pet_bookings,
            "passengers_under_12": totals.passengers_under_12,
            "destinations": destinations,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_is_matched_as_text_never_as_a_pattern() {
        let request = ToolRequest::parse(MARKET_DATA, r#"{"destination":" 50%_off\\ "}"#).expect("valid");
        let ToolRequest::MarketData(filter) = request else { panic!("a market_data call") };
        assert_eq!(filter.destination_pattern(), Some(r"50\%\_off\\"));
        assert_eq!(filter.limit(), 10);
    }

    #[test]
    fn a_refusal_quotes_at_most_a_few_hundred_characters_of_the_call() {
        let field = "x".repeat(10_000);
        let message =
            ToolRequest::parse(MARKET_DATA, &format!(r#"{{"{field}":1}}"#)).expect_err("unknown field");
        assert!(message.starts_with("invalid arguments for market_data: unknown field"), "{message}");
        assert!(message.len() < 300, "{} characters", message.len());
        let message = ToolRequest::parse(&field, "{}").expect_err("no such tool");
        assert!(message.len() < 300, "{} characters", message.len());
    }

    #[test]
    fn limits_outside_the_bound_are_refused() {
        for limit in [0, MAX_FLIGHTS + 1, -1] {
            let message = ToolRequest::parse(MARKET_DATA, &format!(r#"{{"limit":{limit}}}"#))
                .expect_err("out of bounds");
            assert_eq!(message, format!("limit must be between 1 and {MAX_FLIGHTS}"));
        }
    }
}
