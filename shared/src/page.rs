//! Keyset pagination: a page of items and the cursor that continues it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Error;

use crate::function::Reply;

/// One page of a list, in a stable order. `next_cursor` is absent on the last page.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T: Serialize> Reply for Page<T> {}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only tells
    /// that another page exists, and is dropped.
    pub fn from_rows(mut rows: Vec<T>, limit: Limit, cursor_of: impl Fn(&T) -> String) -> Self {
        let more = rows.len() > limit.get() as usize;
        rows.truncate(limit.get() as usize);
        let next_cursor = if more { rows.last().map(cursor_of) } else { None };
        Page { items: rows, next_cursor }
    }

    /// The same page, each item made into another.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }

    /// The same page, each item made into another, or the first error.
    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        let items = self.items.into_iter().map(f).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor: self.next_cursor })
    }
}

/// How many items a page holds: 1 to 100, 20 unless asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64")]
pub struct Limit(u32);

impl Limit {
    pub const MAX: u32 = 100;

    pub fn get(self) -> u32 {
        self.0
    }

    /// The number of rows to fetch: one more than the page holds.
    pub fn fetch(self) -> i64 {
        i64::from(self.0) + 1
    }
}

impl schemars::JsonSchema for Limit {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Limit".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "integer", "minimum": 1, "maximum": Self::MAX, "default": 20})
    }
}

impl Default for Limit {
    fn default() -> Self {
        Limit(20)
    }
}

impl TryFrom<i64> for Limit {
    type Error = String;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match u32::try_from(value) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Limit(n)),
            _ => Err(format!("limit must be between 1 and {}", Self::MAX)),
        }
    }
}

/// A position in an order by (time, id), written as an opaque cursor.
pub fn time_cursor(time: DateTime<Utc>, id: Uuid) -> String {
    format!("{}~{id}", time.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// Reads a cursor written by [`time_cursor`].
pub fn parse_time_cursor(cursor: &str) -> Result<(DateTime<Utc>, Uuid), Error> {
    let invalid = || Error::malformed("invalid_cursor", "cursor is not one this function returned");
    let (time, id) = cursor.split_once('~').ok_or_else(invalid)?;
    let time = DateTime::parse_from_rfc3339(time).map_err(|_| invalid())?.with_timezone(&Utc);
    let id = Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok((time, id))
}
