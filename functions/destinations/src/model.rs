//! A destination, and the validated values it is made of.

use chrono::{DateTime, Utc};
use domain::money::Money;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::{Error, Reply};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Destination {
    pub id: Uuid,
    pub name: String,
    pub tax_amount: Money,
    pub is_promotion: bool,
    pub allows_pets: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Orders the destination's updates as they committed: the stats keep
    /// the name of the highest.
    pub version: i64,
}

impl Reply for Destination {
    fn subject(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}

/// A destination's name: trimmed, 1 to 120 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationName(String);

impl DestinationName {
    pub const MAX_CHARS: usize = 120;

    pub fn parse(raw: &str) -> Result<Self, Error> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Error::rule("invalid_name", "name must not be empty"));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(Error::rule(
                "invalid_name",
                format!("name must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(DestinationName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tax amount: exact money, never negative.
pub fn tax_amount(raw: Decimal) -> Result<Money, Error> {
    Money::try_new(raw).map_err(|e| Error::rule("invalid_tax_amount", format!("tax_amount {e}")))
}

/// Maps the unique-name violation to the rule it breaks.
pub fn name_taken(name: Option<&DestinationName>) -> impl FnOnce(sqlx::Error) -> Error + '_ {
    move |e| match (shared::db::violated_constraint(&e), name) {
        (Some("destinations_name_key"), Some(name)) => Error::rule(
            "destination_name_taken",
            format!("a destination named {} already exists", name.as_str()),
        ),
        _ => e.into(),
    }
}

pub fn not_found(id: Uuid) -> Error {
    Error::not_found("destination_not_found", format!("no destination with id {id}"))
}

/// The destinations of a name, in any case: the slice's read API for the
/// others (the AI's demand tool finds a destination by the name a user wrote).
pub async fn ids_named(conn: shared::db::Exec<'_>, name: &str) -> Result<Vec<Uuid>, Error> {
    Ok(sqlx::query_scalar("SELECT id FROM destinations WHERE lower(name) = lower($1)")
        .bind(name.trim())
        .fetch_all(conn)
        .await?)
}
