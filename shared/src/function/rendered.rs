//! A reply already in its JSON form: what a read model stores as it will be
//! served, answered without being parsed and written again.

use std::borrow::Cow;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::Reply;

/// The JSON of a `T`, written by `T`'s own `Serialize` when it was stored
/// ([`Rendered::of`]), so its schema is `T`'s.
#[derive(Debug)]
pub struct Rendered<T> {
    json: Box<RawValue>,
    subject: Option<String>,
    of: PhantomData<fn() -> T>,
}

impl<T: Serialize> Rendered<T> {
    /// `value`'s JSON, to store.
    pub fn of(value: &T) -> serde_json::Result<String> {
        serde_json::to_string(value)
    }

    /// `value` in its JSON form, the reply about `subject`.
    pub fn new(value: &T, subject: Option<String>) -> serde_json::Result<Self> {
        let json = serde_json::value::to_raw_value(value)?;
        Ok(Rendered { json, subject, of: PhantomData })
    }
}

impl<T> Rendered<T> {
    /// What [`Rendered::of`] wrote, read back as it is; JSON that is not
    /// well formed is refused.
    pub fn from_stored(json: String, subject: Option<String>) -> serde_json::Result<Self> {
        Ok(Rendered { json: RawValue::from_string(json)?, subject, of: PhantomData })
    }

    pub fn json(&self) -> &str {
        self.json.get()
    }
}

impl<T> Serialize for Rendered<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

impl<T> Reply for Rendered<T> {
    fn subject(&self) -> Option<String> {
        self.subject.clone()
    }
}

impl<T: JsonSchema> JsonSchema for Rendered<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, JsonSchema)]
    struct Seat {
        row: u8,
    }

    #[test]
    fn is_served_as_it_was_stored_with_the_schema_of_what_it_renders() {
        let stored = Rendered::of(&Seat { row: 7 }).unwrap();
        let rendered = Rendered::<Seat>::from_stored(stored, Some("7".into())).unwrap();
        assert_eq!(rendered.subject().as_deref(), Some("7"));
        assert_eq!(serde_json::to_string(&vec![rendered]).unwrap(), r#"[{"row":7}]"#);
        assert_eq!(crate::contract::schema_for::<Rendered<Seat>>(), crate::contract::schema_for::<Seat>());
        assert!(Rendered::<Seat>::from_stored("{\"row\":".into(), None).is_err());
    }
}
