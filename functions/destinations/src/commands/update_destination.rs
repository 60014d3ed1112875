//! update-destination: changes a destination's name, tax, promotion or pet rule.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::{Dependency, Done, Error, Function, Result, Spec, Tx};
use uuid::Uuid;

use crate::model::{self, Destination, DestinationName};

pub const SPEC: Spec = Spec {
    name: "update-destination",
    accepts: &["skybook.destination.update"],
    replies: "skybook.destination.updated",
    source: crate::SOURCE,
    authenticated: true,
    dependencies: &[Dependency::Postgres],
    rate_limited: false,
};

/// The fields to change; those left out keep their value.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateDestination {
    pub id: Uuid,
    pub name: Option<String>,
    pub tax_amount: Option<Decimal>,
    pub is_promotion: Option<bool>,
    pub allows_pets: Option<bool>,
}

pub fn function() -> Function {
    Function::command(SPEC, update_destination)
}

pub async fn update_destination(mut tx: Tx, input: UpdateDestination) -> Result<Done<Destination>> {
    if input.name.is_none()
        && input.tax_amount.is_none()
        && input.is_promotion.is_none()
        && input.allows_pets.is_none()
    {
        return Err(Error::malformed(
            "nothing_to_update",
            "give at least one of name, tax_amount, is_promotion, allows_pets",
        ));
    }
    let name = input.name.as_deref().map(DestinationName::parse).transpose()?;
    let tax_amount = input.tax_amount.map(model::tax_amount).transpose()?;
    let destination: Option<Destination> = sqlx::query_as(
        "UPDATE destinations SET
             name = COALESCE($2, name),
             tax_amount = COALESCE($3, tax_amount),
             is_promotion = COALESCE($4, is_promotion),
             allows_pets = COALESCE($5, allows_pets),
             updated_at = now()
         WHERE id = $1
         RETURNING *",
    )
    .bind(input.id)
    .bind(name.as_ref().map(DestinationName::as_str))
    .bind(tax_amount)
    .bind(input.is_promotion)
    .bind(input.allows_pets)
    .fetch_optional(tx.conn())
    .await
    .map_err(model::name_taken(name.as_ref()))?;
    let destination = destination.ok_or_else(|| model::not_found(input.id))?;
    tx.commit(destination).await
}
