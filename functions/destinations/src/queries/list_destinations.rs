//! list-destinations: every destination, by name, a page at a time.

use serde::Deserialize;
use shared::auth::Access;
use shared::page::{Limit, Page};
use shared::{Ctx, Function, Result, Spec};

use crate::model::Destination;

pub const SPEC: Spec = Spec::new("list-destinations", crate::SOURCE, Access::Public)
    .accepts(&["skybook.destination.list"])
    .replies("skybook.destination.listed");

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDestinations {
    /// Only destinations on promotion (true) or not (false).
    pub is_promotion: Option<bool>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    #[serde(default)]
    pub limit: Limit,
}

pub fn function() -> Function {
    Function::query(SPEC, list_destinations)
}

pub async fn list_destinations(ctx: Ctx, input: ListDestinations) -> Result<Page<Destination>> {
    // Names are unique by lower(name), so that is a stable keyset order.
    let rows: Vec<Destination> = sqlx::query_as(
        "SELECT * FROM destinations
         WHERE ($1::boolean IS NULL OR is_promotion = $1)
           AND ($2::text IS NULL OR lower(name) > $2)
         ORDER BY lower(name)
         LIMIT $3",
    )
    .bind(input.is_promotion)
    .bind(input.cursor)
    .bind(input.limit.fetch())
    .fetch_all(ctx.db().read().await?.exec())
    .await?;
    Ok(Page::from_rows(rows, input.limit, |d| d.name.to_lowercase()))
}
