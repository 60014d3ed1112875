//! The data each function takes and answers, as JSON Schemas generated from
//! its Rust input and output types (so a schema cannot drift from the code):
//! served at `GET /schema`, named by every emitted event's `dataschema`,
//! published in `schemas/` and referenced by the EventTypes.

use schemars::{JsonSchema, Schema};

/// A function's contract: the schema of the data it accepts, and of its reply's.
#[derive(Clone, Copy)]
pub struct Contract {
    pub accepts: fn() -> Schema,
    pub replies: Option<fn() -> Schema>,
}

/// The JSON Schema (2020-12) of `T`'s JSON form.
pub fn schema_for<T: JsonSchema>() -> Schema {
    schemars::generate::SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>()
}

/// The URI that names the schema of an event type's data: its `dataschema`,
/// and the `$id` of `schemas/<type>.json`.
pub fn id(ty: &str) -> String {
    format!("urn:skybook:schema:{ty}")
}

/// The schema of `ty`'s data as published: `schema` with its `$id` and title.
pub fn published(ty: &str, schema: Schema) -> serde_json::Value {
    let mut value = schema.to_value();
    if let Some(object) = value.as_object_mut() {
        object.insert("$id".into(), id(ty).into());
        object.insert("title".into(), format!("The data of {ty}").into());
    }
    value
}
