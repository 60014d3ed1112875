//! The API as documents other tools read, from the catalogue and the
//! schemas the functions publish: an OpenAPI 3.1 document per HTTP trigger
//! (each external function is its own host, at `/`), and one AsyncAPI 3.0
//! document for the events on the Broker (who sends each, who receives it
//! through which Trigger, and how it is delivered). Written to `schemas/api/`
//! by `cargo xtask manifests`; checked by `openapi-spec-validator` and the
//! AsyncAPI parser, and the OpenAPI against the smoke run's real traffic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Map, Value, json};
use shared::Kind;
use shared::auth::Access;

use crate::catalog::Function;

mod asyncapi;

/// The files: `schemas/api/openapi/<function>.json`, `schemas/api/asyncapi.json`.
pub fn files(root: &Path, functions: &[Function]) -> anyhow::Result<BTreeMap<PathBuf, String>> {
    let version = env!("CARGO_PKG_VERSION");
    let mut files = BTreeMap::new();
    for function in functions.iter().filter(|f| matches!(f.function.kind, Kind::Query | Kind::Command)) {
        let summary = summary(root, function)?;
        let document = openapi(function, &summary, version);
        files.insert(root.join(format!("schemas/api/openapi/{}.json", function.name())), pretty(&document)?);
    }
    files.insert(
        root.join("schemas/api/asyncapi.json"),
        pretty(&asyncapi::document(root, functions, version)?)?,
    );
    Ok(files)
}

fn pretty(value: &Value) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// What the function does, from its binary's first line (`//! name: what it does.`).
fn summary(root: &Path, function: &Function) -> anyhow::Result<String> {
    let path = root.join(format!("functions/{}/src/bin/{}.rs", function.slice, function.name()));
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let first = text.lines().next().unwrap_or_default().trim_start_matches("//!").trim();
    let what = first.split_once(": ").map_or(first, |(_, what)| what);
    let mut chars = what.chars();
    Ok(chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default())
}

/// A published schema, as the document holds it: no `$schema` (the
/// document's dialect is JSON Schema 2020-12), its `$defs` resolved in place
/// so it stands anywhere in the document.
fn standalone(schema: Value) -> Value {
    fn inline(value: &Value, defs: &Value, depth: u32) -> Value {
        match value {
            Value::Object(map) => {
                if let Some(name) =
                    map.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/"))
                    && depth < 16
                {
                    let mut resolved = inline(&defs[name], defs, depth + 1);
                    if let (Value::Object(resolved), true) = (&mut resolved, map.len() > 1) {
                        for (k, v) in map.iter().filter(|(k, _)| *k != "$ref") {
                            resolved.insert(k.clone(), inline(v, defs, depth));
                        }
                    }
                    return resolved;
                }
                let mut out = Map::new();
                for (k, v) in map {
                    if k != "$defs" && k != "$schema" {
                        out.insert(k.clone(), inline(v, defs, depth));
                    }
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| inline(v, defs, depth)).collect()),
            other => other.clone(),
        }
    }
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    inline(&schema, &defs, 0)
}

fn published(function: &Function, input: bool) -> Option<(String, Value)> {
    let (spec, contract) = (&function.function.spec, &function.function.contract);
    if input {
        let ty = spec.accepts.first()?;
        Some(((*ty).to_owned(), standalone(shared::contract::published(ty, (contract.accepts)()))))
    } else {
        let ty = spec.replies?;
        Some((ty.to_owned(), standalone(shared::contract::published(ty, (contract.replies?)()))))
    }
}

fn error_body() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "What went wrong, for programs: unauthorized, invalid_data, sold_out, ..."},
                "message": {"type": "string", "description": "What went wrong, for people"}
            }
        }}
    })
}

/// Who may call it, as security requirements and words.
fn access(access: Access) -> (Value, String) {
    let signed_in = json!([{"bearerJwt": []}, {"apiKey": []}]);
    match access {
        Access::Public => {
            (json!([{}, {"bearerJwt": []}, {"apiKey": []}]), "Anyone, signed in or not.".to_owned())
        }
        Access::Roles(roles) => {
            let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
            (signed_in, format!("Signed in with one of the roles: {}.", names.join(", ")))
        }
        Access::Broker | Access::BrokerAndControl { .. } => (json!([]), "The Broker only.".to_owned()),
    }
}

fn openapi(function: &Function, summary: &str, version: &str) -> Value {
    let spec = &function.function.spec;
    let name = spec.name;
    let (security, who) = access(spec.access);
    let (accepts, input) = published(function, true).unwrap_or_default();
    let (replies, output) = published(function, false).unwrap_or_default();
    let query = function.function.kind == Kind::Query;
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        })
    };
    let reply_headers = json!({
        "ce-type": {"description": format!("Always {replies}"), "schema": {"type": "string", "const": replies}},
        "ce-id": {"schema": {"type": "string"}},
        "ce-source": {"schema": {"type": "string", "const": spec.source}},
        "ce-specversion": {"schema": {"type": "string", "const": "1.0"}},
        "ce-time": {"schema": {"type": "string", "format": "date-time"}},
        "ce-dataschema": {"schema": {"type": "string", "const": shared::contract::id(&replies)}}
    });
    let mut responses = json!({
        "200": {
            "description": format!("The reply, a binary-mode CloudEvent of type {replies}: its data is the body"),
            "headers": reply_headers,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Reply"}}}
        },
        "400": error("The request cannot be read: malformed JSON, an invalid field, a wrong event type"),
        "413": error("The body is larger than BODY_LIMIT"),
        "422": error("The request breaks a rule (an unknown flight, a sold-out flight, a pet where none is allowed)"),
        "503": error("A dependency is down: retry later")
    });
    if spec.access.needs_identities() {
        responses["401"] = error("No identity, or one that is not valid");
        responses["403"] = error("An identity without a role that may call this");
    }
    if spec.rate_limit.is_on() {
        responses["429"] = error("Past RATE_LIMIT_PER_MINUTE for this caller: see Retry-After");
    }
    let body_content = json!({
        "application/json": {"schema": {"$ref": "#/components/schemas/Request"}},
        "application/cloudevents+json": {"schema": {
            "description": format!("A structured-mode CloudEvent of type {accepts}"),
            "type": "object",
            "required": ["specversion", "id", "source", "type"],
            "properties": {
                "specversion": {"const": "1.0"},
                "id": {"type": "string"},
                "source": {"type": "string"},
                "type": {"const": accepts},
                "data": {"$ref": "#/components/schemas/Request"}
            }
        }}
    });
    let mut post = json!({
        "operationId": name,
        "summary": summary,
        "description": format!(
            "{who} Send the data as plain JSON, or as a CloudEvent of type {accepts} (binary mode: \
             the data as the body, the attributes as ce-* headers; or structured)."
        ),
        "security": security.clone(),
        "requestBody": {"required": false, "content": body_content},
        "responses": responses.clone()
    });
    if function.function.kind == Kind::Command {
        post["parameters"] = json!([{
            "name": "Idempotency-Key",
            "in": "header",
            "description": "Makes a plain-JSON command safe to send again: the same key answers the first reply, unexecuted",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255}
        }]);
    }
    let mut item = json!({
        "post": post,
        "options": {
            "operationId": format!("{name}-preflight"),
            "summary": "A browser's preflight, answered for the origins CORS_ALLOWED_ORIGINS lists",
            "security": [],
            "responses": {
                "204": {"description": "Allowed: the methods and headers a page may use"},
                "403": error("An origin the deployment does not allow")
            }
        }
    });
    if query {
        let parameters: Vec<Value> = input["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(param, schema)| {
                let required = input["required"].as_array().is_some_and(|r| r.iter().any(|n| n == param));
                json!({"name": param, "in": "query", "required": required, "schema": schema})
            })
            .collect();
        let mut get_responses = responses;
        get_responses["200"]["headers"]["ETag"] = json!({"schema": {"type": "string"}});
        get_responses["200"]["headers"]["Cache-Control"] = json!({"schema": {"type": "string"}});
        get_responses["304"] =
            json!({"description": "Not modified: the ETag If-None-Match names is the answer"});
        item["get"] = json!({
            "operationId": format!("{name}-get"),
            "summary": summary,
            "description": format!("{who} The same query, its data as parameters, each of the type its schema gives."),
            "security": security,
            "parameters": parameters,
            "responses": get_responses
        });
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("Skybook {name}"),
            "version": version,
            "summary": summary,
            "description": "One Skybook function: its own HTTP trigger, served at `/` of its own host.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "servers": [{
            "url": "{base}",
            "description": format!("The function: https://{name}.<domain> behind the chart's DomainMappings, its port in the local stack"),
            "variables": {"base": {"default": "http://localhost:8080"}}
        }],
        "paths": {"/": item},
        "components": {
            "schemas": {"Request": input, "Reply": output, "Error": error_body()},
            "securitySchemes": {
                "bearerJwt": {
                    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "An end user's token from the OIDC issuer (AUTH_ISSUER), its roles in AUTH_ROLES_CLAIM"
                },
                "apiKey": {
                    "type": "http", "scheme": "bearer",
                    "description": "A machine client's key from AUTH_API_KEYS (role:secret), sent as a bearer token"
                }
            }
        }
    })
}

/// The smoke run's real calls (`calls`, its --record file), each request and
/// answer validated against its function's OpenAPI document by openapi-core.
pub fn check_traffic(root: &Path, calls: &Path) -> anyhow::Result<()> {
    let status = std::process::Command::new(root.join("target/tools/venv/bin/python"))
        .arg(root.join("scripts/check-openapi-traffic.py"))
        .arg(root.join("schemas/api/openapi"))
        .arg(calls)
        .status()
        .context("scripts/check-openapi-traffic.py")?;
    anyhow::ensure!(status.success(), "real traffic does not meet the OpenAPI documents");
    Ok(())
}
