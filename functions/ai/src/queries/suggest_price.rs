//! suggest-price: a demand-based price for a flight, computed here by a
//! fixed rule, and explained by the model (or by the rule itself when the
//! model cannot be reached, so the function still answers).

use chrono::Utc;
use domain::money::{Money, PriceBreakdown};
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde::{Deserialize, Serialize};
use shared::auth::Access;
use shared::{Ctx, Dependency, Error, Function, Reply, Result, Spec};
use uuid::Uuid;

use crate::groq::{Groq, Message};

pub const SPEC: Spec = Spec::new("suggest-price", crate::SOURCE, Access::SIGNED_IN)
    .accepts(&["skybook.ai.suggest-price"])
    .replies("skybook.ai.price-suggested")
    .dependencies(&[Dependency::Postgres, Dependency::Redis])
    .rate_limit(shared::ratelimit::RateLimit::FailClosed);

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestPrice {
    pub flight_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Suggestion {
    pub flight_id: Uuid,
    pub flight_number: String,
    pub destination_name: String,
    pub current_base_price: Money,
    /// What a passenger pays today (promotion and tax applied).
    pub current_price: Money,
    pub suggested_base_price: Money,
    /// What a passenger would pay at the suggested base price.
    pub suggested_price: Money,
    /// Change of the base price, in percent, two decimals.
    pub change_percent: Decimal,
    pub demand: Demand,
    pub explanation: String,
    /// `model` when the model explained it; `rules` when it could not.
    pub explanation_source: ExplanationSource,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExplanationSource {
    Model,
    Rules,
}

/// The figures the suggestion is computed from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Demand {
    pub seats_sold: i32,
    pub capacity: i32,
    pub load_factor: f64,
    pub days_to_departure: i64,
    pub destination_bookings: i64,
    /// The destination's bookings over the mean of all destinations; 1 when unknown.
    pub popularity_index: f64,
}

impl Reply for Suggestion {
    fn subject(&self) -> Option<String> {
        Some(self.flight_id.to_string())
    }
}

/// No suggestion moves the base price by more than this, either way.
pub const MAX_CHANGE: f64 = 0.25;

/// The rule, as a fraction of the base price:
///
/// - demand: `0.30 × (load factor − 0.5)`: −15% for an empty flight, +15% for a full one;
/// - popularity: `0.05 × (popularity − 1)`, kept within −5% … +10%;
/// - time: within 14 days of departure, `+0.10 × load factor × (14 − days) / 14`
///   (late seats on a filling flight are worth more); beyond 60 days, −5% (early bookers);
///
/// all of it kept within ±[`MAX_CHANGE`].
pub fn adjustment(demand: &Demand) -> f64 {
    let load = demand.load_factor.clamp(0.0, 1.0);
    let by_load = 0.30 * (load - 0.5);
    let by_popularity = (0.05 * (demand.popularity_index - 1.0)).clamp(-0.05, 0.10);
    let days = demand.days_to_departure.max(0) as f64;
    let by_time = if days <= 14.0 {
        0.10 * load * (14.0 - days) / 14.0
    } else if days > 60.0 {
        -0.05
    } else {
        0.0
    };
    (by_load + by_popularity + by_time).clamp(-MAX_CHANGE, MAX_CHANGE)
}

pub fn function() -> Function {
    Function::query(SPEC, suggest_price)
        .with_settings::<crate::settings::AiSettings>()
        .with_metrics(crate::groq::METRICS)
}

pub async fn suggest_price(ctx: Ctx, input: SuggestPrice) -> Result<Suggestion> {
    let flight = flights::model::fetch_row(ctx.db().read().await?.exec(), input.flight_id)
        .await?
        .ok_or_else(|| flights::model::not_found(input.flight_id))?;

    let (destination_bookings, popularity_index) = popularity(&ctx, &flight.destination_id).await;
    let demand = Demand {
        seats_sold: flight.seats_taken,
        capacity: flight.capacity,
        load_factor: round4(f64::from(flight.seats_taken) / f64::from(flight.capacity.max(1))),
        days_to_departure: (flight.departure_at - Utc::now()).num_days(),
        destination_bookings,
        popularity_index: round4(popularity_index),
    };
    let change = Decimal::from_f64(adjustment(&demand)).unwrap_or_default().round_dp(4);
    let suggested_amount = (flight.base_price.amount() * (Decimal::ONE + change)).max(Decimal::ONE);
    let suggested_base =
        Money::try_new(suggested_amount.round_dp(2)).map_err(|e| anyhow_error(e.to_string()))?;
    let current = flight.price();
    let suggested = PriceBreakdown::quote(suggested_base, flight.is_promotion, flight.tax_amount);
    let change_percent = ((suggested_base.amount() - flight.base_price.amount())
        / flight.base_price.amount()
        * Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);

    let mut suggestion = Suggestion {
        flight_id: input.flight_id,
        flight_number: flight.flight_number,
        destination_name: flight.destination_name,
        current_base_price: flight.base_price,
        current_price: current.total,
        suggested_base_price: suggested_base,
        suggested_price: suggested.total,
        change_percent,
        demand,
        explanation: String::new(),
        explanation_source: ExplanationSource::Rules,
    };
    match explain_by_model(&ctx, &suggestion).await {
        Ok(text) if !text.trim().is_empty() => {
            suggestion.explanation = text.trim().to_owned();
            suggestion.explanation_source = ExplanationSource::Model;
        }
        outcome => {
            match outcome {
                // No key is a setting, not an incident: no warning per request.
                Err(Error::NotConfigured { .. }) => {
                    tracing::debug!("no model configured; explaining by the rules")
                }
                Err(e) => tracing::warn!(error = %e, "model unavailable; explaining by the rules"),
                Ok(_) => tracing::warn!("the model gave an empty explanation; explaining by the rules"),
            }
            suggestion.explanation = explain_by_rules(&suggestion);
        }
    }
    Ok(suggestion)
}

/// The destination's bookings and its popularity against the mean; neutral
/// (1) when the stats are empty or Redis cannot be reached.
async fn popularity(ctx: &Ctx, destination: &uuid::Uuid) -> (i64, f64) {
    // The mean is all confirmed bookings over the destinations that have any.
    match stats::read::popularity(&mut ctx.redis(), destination).await {
        Ok(p) if p.destinations_booked > 0 && p.total_bookings > 0 => {
            let mean = p.total_bookings as f64 / p.destinations_booked as f64;
            (p.bookings, (p.bookings as f64 / mean).clamp(0.0, 3.0))
        }
        Ok(p) => (p.bookings, 1.0),
        Err(e) => {
            tracing::warn!(error = %e, "popularity unavailable; taken as average");
            (0, 1.0)
        }
    }
}

async fn explain_by_model(ctx: &Ctx, suggestion: &Suggestion) -> Result<String> {
    let groq = Groq::get(ctx)?;
    let figures = serde_json::to_string(suggestion).map_err(|e| anyhow_error(e.to_string()))?;
    let messages = [
        Message::system(
            "You explain airline price suggestions to a revenue manager in two or three sentences. \
             Use only the figures given; do not change the suggested price.",
        ),
        Message::user(&format!("Explain this suggestion: {figures}")),
    ];
    // Past the deadline the suggestion goes out with the rule's explanation.
    let deadline = ctx.section::<crate::settings::AiSettings>()?.ai_deadline();
    let reply = tokio::time::timeout(deadline, groq.chat(&messages, &[], None)).await.map_err(|_| {
        Error::unavailable("ai_unavailable", format!("no explanation within {} ms", deadline.as_millis()))
    })??;
    Ok(reply.content.unwrap_or_default())
}

fn explain_by_rules(s: &Suggestion) -> String {
    let d = &s.demand;
    let direction = match s.change_percent.cmp(&Decimal::ZERO) {
        std::cmp::Ordering::Greater => "raise",
        std::cmp::Ordering::Less => "lower",
        std::cmp::Ordering::Equal => "keep",
    };
    format!(
        "Suggested to {direction} the base price from {} to {} ({}%): {} of {} seats sold (load factor {:.0}%), \
         {} days to departure, destination popularity {:.2} times the average.",
        s.current_base_price,
        s.suggested_base_price,
        s.change_percent,
        d.seats_sold,
        d.capacity,
        d.load_factor * 100.0,
        d.days_to_departure,
        d.popularity_index,
    )
}

fn round4(x: f64) -> f64 {
    Decimal::from_f64(x).map(|d| d.round_dp(4)).and_then(|d| d.to_f64()).unwrap_or(x)
}

fn anyhow_error(message: String) -> Error {
    Error::Internal(anyhow::anyhow!(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(load: f64, days: i64, popularity: f64) -> Demand {
        Demand {
            seats_sold: 0,
            capacity: 100,
            load_factor: load,
            days_to_departure: days,
            destination_bookings: 0,
            popularity_index: popularity,
        }
    }

    #[test]
    fn full_flights_rise_and_empty_far_ones_fall() {
        assert!(adjustment(&demand(0.96, 30, 1.0)) > 0.10);
        assert!(adjustment(&demand(0.0, 120, 1.0)) < -0.15);
        assert_eq!(adjustment(&demand(0.5, 30, 1.0)), 0.0);
    }

    #[test]
    fn never_beyond_the_bounds() {
        for load in [0.0, 0.5, 1.0] {
            for days in [0, 7, 30, 365] {
                for popularity in [0.0, 1.0, 3.0] {
                    let a = adjustment(&demand(load, days, popularity));
                    assert!((-MAX_CHANGE..=MAX_CHANGE).contains(&a), "{load} {days} {popularity}: {a}");
                }
            }
        }
    }
}
