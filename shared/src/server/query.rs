//! A query asked by `GET /?name=value`: the parameters read as the query's
//! input, each as the JSON type its schema gives it (so `limit=10` is a
//! number and `id=…` a string), and the answer kept by browsers and caches
//! by its `ETag`.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::HeaderValue;
use serde_json::{Map, Value};

use crate::error::Error;

/// The JSON input a query string stands for, as `schema` (the query's
/// input's) reads it. A parameter given twice must be an array.
pub(super) fn input(query: Option<&str>, schema: &Value) -> Result<Bytes, Error> {
    let mut given: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        given.entry(name.into_owned()).or_default().push(value.into_owned());
    }
    let mut input = Map::new();
    for (name, values) in given {
        let property = &schema["properties"][&name];
        let kinds = kinds(property, schema);
        let value = if kinds.contains(&"array") {
            let items = kinds_of_items(property, schema);
            Value::Array(values.iter().map(|v| typed(v, &items)).collect())
        } else {
            let [value] = values.as_slice() else {
                return Err(Error::malformed(
                    "invalid_data",
                    format!("the parameter {name} is given more than once"),
                ));
            };
            typed(value, &kinds)
        };
        input.insert(name, value);
    }
    Ok(Bytes::from(Value::Object(input).to_string()))
}

/// A text as the first of `kinds` it reads as; a string otherwise (and the
/// input's own reading then names what is wrong with it).
fn typed(text: &str, kinds: &[&str]) -> Value {
    for kind in kinds {
        let read = match *kind {
            "integer" => text.parse::<i64>().ok().map(Value::from),
            "number" => text.parse::<serde_json::Number>().ok().map(Value::Number),
            "boolean" => text.parse::<bool>().ok().map(Value::Bool),
            "null" if text.is_empty() => Some(Value::Null),
            _ => None,
        };
        if let Some(value) = read {
            return value;
        }
    }
    Value::String(text.to_owned())
}

/// The JSON types a schema allows, through `$ref`s into the root's `$defs`
/// and any `anyOf`/`oneOf`/`allOf`.
fn kinds<'a>(schema: &'a Value, root: &'a Value) -> Vec<&'a str> {
    let mut found = Vec::new();
    if let Some(name) = schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/$defs/")) {
        found.extend(kinds(&root["$defs"][name], root));
    }
    match &schema["type"] {
        Value::String(kind) => found.push(kind.as_str()),
        Value::Array(list) => found.extend(list.iter().filter_map(Value::as_str)),
        _ => {}
    }
    for combined in ["anyOf", "oneOf", "allOf"] {
        for part in schema[combined].as_array().into_iter().flatten() {
            found.extend(kinds(part, root));
        }
    }
    found
}

fn kinds_of_items<'a>(schema: &'a Value, root: &'a Value) -> Vec<&'a str> {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/$defs/")) {
        Some(name) => kinds_of_items(&root["$defs"][name], root),
        None => kinds(&schema["items"], root),
    }
}

/// How long an answer may be kept: the public catalogue a few seconds by
/// anyone (seats and prices move), what names a caller only by that caller's
/// browser, and revalidated each time.
pub(super) fn cache_control(public: bool) -> HeaderValue {
    HeaderValue::from_static(if public { "public, max-age=5" } else { "private, no-cache" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_take_the_types_the_schema_gives_them() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "limit": {"$ref": "#/$defs/Limit"},
                "max_price": {"type": ["string", "null"]},
                "pets": {"type": "boolean"},
                "after": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "ids": {"type": "array", "items": {"type": "integer"}}
            },
            "$defs": {"Limit": {"type": "integer", "minimum": 1}}
        });
        let read =
            |query: &str| -> Value { serde_json::from_slice(&input(Some(query), &schema).unwrap()).unwrap() };
        assert_eq!(
            read("id=7d2a&limit=10&max_price=950.00&pets=true&after=&ids=1&ids=2"),
            serde_json::json!({"id": "7d2a", "limit": 10, "max_price": "950.00", "pets": true,
                               "after": null, "ids": [1, 2]})
        );
        // What does not read as its type stays text, for the input to refuse by name.
        assert_eq!(read("limit=ten"), serde_json::json!({"limit": "ten"}));
        assert_eq!(read("unknown=x"), serde_json::json!({"unknown": "x"}));
        assert_eq!(read(""), serde_json::json!({}));
        assert_eq!(read("name=Canc%C3%BAn+Sur"), serde_json::json!({"name": "Cancún Sur"}));
        let twice = input(Some("limit=1&limit=2"), &schema).unwrap_err();
        assert_eq!(twice.code(), "invalid_data");
    }
}
