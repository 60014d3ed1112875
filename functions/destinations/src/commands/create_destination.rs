//! create-destination: registers a destination with its tax and rules.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::{Dependency, Done, Function, Result, Spec, Tx};
use uuid::Uuid;

use crate::model::{self, Destination, DestinationName};

pub const SPEC: Spec = Spec {
    name: "create-destination",
    accepts: &["skybook.destination.create"],
    replies: "skybook.destination.created",
    source: crate::SOURCE,
    authenticated: true,
    dependencies: &[Dependency::Postgres],
    rate_limited: false,
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDestination {
    pub name: String,
    pub tax_amount: Decimal,
    #[serde(default)]
    pub is_promotion: bool,
    #[serde(default)]
    pub allows_pets: bool,
}

pub fn function() -> Function {
    Function::command(SPEC, create_destination)
}

pub async fn create_destination(mut tx: Tx, input: CreateDestination) -> Result<Done<Destination>> {
    let name = DestinationName::parse(&input.name)?;
    let tax_amount = model::tax_amount(input.tax_amount)?;
    let destination: Destination = sqlx::query_as(
        "INSERT INTO destinations (id, name, tax_amount, is_promotion, allows_pets)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING *",
    )
    .bind(Uuid::now_v7())
    .bind(name.as_str())
    .bind(tax_amount)
    .bind(input.is_promotion)
    .bind(input.allows_pets)
    .fetch_one(tx.conn())
    .await
    .map_err(model::name_taken(Some(&name)))?;
    tx.commit(destination).await
}
