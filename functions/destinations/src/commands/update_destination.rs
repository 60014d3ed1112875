//! update-destination: changes a destination's name, tax, promotion or pet rule.

use domain::events::DESTINATION_UPDATED;
use domain::money::Money;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::auth::{Access, Role};
use shared::{Done, Error, Function, Result, Spec, Tx};
use uuid::Uuid;

use crate::model::{self, Destination, DestinationName};

pub const SPEC: Spec = Spec::new("update-destination", crate::SOURCE, Access::Roles(&[Role::Admin]))
    .accepts(&["skybook.destination.update"])
    .replies(DESTINATION_UPDATED)
    .emits(&[DESTINATION_UPDATED]);

/// The fields to change; those left out keep their value.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDestination {
    pub id: Uuid,
    pub name: Option<String>,
    pub tax_amount: Option<Decimal>,
    pub is_promotion: Option<bool>,
    pub allows_pets: Option<bool>,
}

/// The changes to a destination, each keeping its rule, at least one given.
#[derive(Debug)]
pub struct DestinationChanges {
    id: Uuid,
    name: Option<DestinationName>,
    tax_amount: Option<Money>,
    is_promotion: Option<bool>,
    allows_pets: Option<bool>,
}

impl DestinationChanges {
    pub fn id(&self) -> Uuid {
        self.id
    }

    pub fn name(&self) -> Option<&DestinationName> {
        self.name.as_ref()
    }

    pub fn tax_amount(&self) -> Option<Money> {
        self.tax_amount
    }

    /// How many fields change: never zero.
    pub fn count(&self) -> usize {
        [
            self.name.is_some(),
            self.tax_amount.is_some(),
            self.is_promotion.is_some(),
            self.allows_pets.is_some(),
        ]
        .into_iter()
        .filter(|given| *given)
        .count()
    }
}

impl TryFrom<UpdateDestination> for DestinationChanges {
    type Error = Error;

    fn try_from(input: UpdateDestination) -> Result<Self> {
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
        Ok(DestinationChanges {
            id: input.id,
            name: input.name.as_deref().map(DestinationName::parse).transpose()?,
            tax_amount: input.tax_amount.map(model::tax_amount).transpose()?,
            is_promotion: input.is_promotion,
            allows_pets: input.allows_pets,
        })
    }
}

pub fn function() -> Function {
    Function::command(SPEC, update_destination)
}

pub async fn update_destination(mut tx: Tx, input: UpdateDestination) -> Result<Done<Destination>> {
    let changes = DestinationChanges::try_from(input)?;
    let destination = apply(tx.conn(), &changes).await?;
    // The stats show destinations by name: they learn of a rename from this.
    tx.emit(DESTINATION_UPDATED, destination.id.to_string(), &destination).await?;
    tx.commit(destination).await
}

/// Applies the changes in the caller's transaction. The new version is read
/// under the row's lock, so it is above the version of any update committed
/// before this one, and never below the wall clock (see migration 0006).
pub async fn apply<'c>(
    conn: impl sqlx::Executor<'c, Database = sqlx::Postgres>,
    changes: &DestinationChanges,
) -> Result<Destination> {
    let destination: Option<Destination> = sqlx::query_as(
        "UPDATE destinations SET
             name = COALESCE($2, name),
             tax_amount = COALESCE($3, tax_amount),
             is_promotion = COALESCE($4, is_promotion),
             allows_pets = COALESCE($5, allows_pets),
             updated_at = now(),
             version = GREATEST(version + 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)
         WHERE id = $1
         RETURNING *",
    )
    .bind(changes.id)
    .bind(changes.name.as_ref().map(DestinationName::as_str))
    .bind(changes.tax_amount)
    .bind(changes.is_promotion)
    .bind(changes.allows_pets)
    .fetch_optional(conn)
    .await
    .map_err(model::name_taken(changes.name.as_ref()))?;
    destination.ok_or_else(|| model::not_found(changes.id))
}
