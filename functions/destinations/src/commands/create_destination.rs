//! create-destination: registers a destination with its tax and rules.

use domain::money::Money;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::auth::{Access, Role};
use shared::{Done, Error, Function, Result, Spec, Tx};
use uuid::Uuid;

use crate::model::{self, Destination, DestinationName};

pub const SPEC: Spec = Spec::new("create-destination", crate::SOURCE, Access::Roles(&[Role::Admin]))
    .accepts(&["skybook.destination.create"])
    .replies("skybook.destination.created");

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDestination {
    pub name: String,
    pub tax_amount: Decimal,
    #[serde(default)]
    pub is_promotion: bool,
    #[serde(default)]
    pub allows_pets: bool,
}

/// A destination that keeps every rule: what the handler writes.
#[derive(Debug)]
pub struct NewDestination {
    pub name: DestinationName,
    pub tax_amount: Money,
    pub is_promotion: bool,
    pub allows_pets: bool,
}

impl TryFrom<CreateDestination> for NewDestination {
    type Error = Error;

    fn try_from(input: CreateDestination) -> Result<Self> {
        Ok(NewDestination {
            name: DestinationName::parse(&input.name)?,
            tax_amount: model::tax_amount(input.tax_amount)?,
            is_promotion: input.is_promotion,
            allows_pets: input.allows_pets,
        })
    }
}

pub fn function() -> Function {
    Function::command(SPEC, create_destination)
}

pub async fn create_destination(mut tx: Tx, input: CreateDestination) -> Result<Done<Destination>> {
    let new = NewDestination::try_from(input)?;
    let destination: Destination = sqlx::query_as(
        "INSERT INTO destinations (id, name, tax_amount, is_promotion, allows_pets)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING *",
    )
    .bind(Uuid::now_v7())
    .bind(new.name.as_str())
    .bind(new.tax_amount)
    .bind(new.is_promotion)
    .bind(new.allows_pets)
    .fetch_one(tx.conn())
    .await
    .map_err(model::name_taken(Some(&new.name)))?;
    tx.commit(destination).await
}
