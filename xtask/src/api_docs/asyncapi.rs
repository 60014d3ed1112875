//! The AsyncAPI 3.0 document of the Broker's events: a channel per type,
//! the function that sends it, each consumer a Trigger delivers it to, and
//! the delivery policy from the chart's values.

use std::path::Path;

use anyhow::Context;
use serde_json::{Map, Value, json};

use super::standalone;
use crate::catalog::Function;

/// The Broker's events: a channel per type, sent by its producer,
/// received by each consumer its Triggers route it to.
pub(super) fn document(root: &Path, functions: &[Function], version: &str) -> anyhow::Result<Value> {
    let values: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(root.join("helm/skybook/values.yaml"))?)?;
    let delivery = &values["broker"]["delivery"];
    let policy = format!(
        "Each Trigger delivers over HTTP (binary-mode CloudEvents) and retries {} times, {} from {}; \
         then the event goes to store-dead-letter, which keeps it for replay.",
        delivery["retry"].as_u64().unwrap_or_default(),
        delivery["backoffPolicy"].as_str().unwrap_or_default(),
        delivery["backoffDelay"].as_str().unwrap_or_default()
    );
    let triggers = catalogue::triggers(functions);
    let (mut channels, mut operations, mut messages) = (Map::new(), Map::new(), Map::new());
    for ty in catalogue::emitted(functions) {
        let Some(producer) = functions.iter().find(|f| f.function.spec.emits.contains(&ty)) else { continue };
        let schema = functions
            .iter()
            .filter_map(|f| Some((f.function.spec.replies?, f.function.contract.replies?)))
            .find(|(replies, _)| *replies == ty)
            .map(|(_, schema)| standalone(shared::contract::published(ty, schema())))
            .context(format!("no function replies {ty}, so its data has no published schema"))?;
        let key = ty.replace('.', "-");
        messages.insert(key.clone(), json!({
            "name": ty,
            "title": ty,
            "summary": domain::events::description(ty).unwrap_or_default(),
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "required": ["ce-specversion", "ce-id", "ce-source", "ce-type", "ce-sequence", "ce-skybooksig"],
                "properties": {
                    "ce-specversion": {"const": "1.0"},
                    "ce-id": {"type": "string"},
                    "ce-source": {"const": producer.function.spec.source},
                    "ce-type": {"const": ty},
                    "ce-subject": {"type": "string"},
                    "ce-time": {"type": "string", "format": "date-time"},
                    "ce-dataschema": {"const": shared::contract::id(ty)},
                    "ce-sequence": {"type": "string", "description": "The outbox number, 19 digits"},
                    "ce-skybooksig": {"type": "string", "description": "HMAC over the event under EVENT_SIGNING_KEYS"}
                }
            },
            "payload": schema
        }));
        channels.insert(
            key.clone(),
            json!({
                "address": ty,
                "title": ty,
                "description": format!("Events of type {ty} on the Broker. {policy}"),
                "messages": {key.clone(): {"$ref": format!("#/components/messages/{key}")}}
            }),
        );
        operations.insert(format!("{}-sends-{key}", producer.name()), json!({
            "action": "send",
            "title": format!("{} emits {ty}", producer.name()),
            "description": "Written to the outbox in the command's transaction, sent to the Broker after the reply (and by relay-outbox if that fails).",
            "channel": {"$ref": format!("#/channels/{key}")},
            "messages": [{"$ref": format!("#/channels/{key}/messages/{key}")}]
        }));
        for trigger in triggers.iter().filter(|t| t.ty == ty) {
            operations.insert(
                format!("{}-receives-{key}", trigger.subscriber),
                json!({
                    "action": "receive",
                    "title": format!("{} receives {ty} (Trigger {})", trigger.subscriber, trigger.name),
                    "description": policy,
                    "channel": {"$ref": format!("#/channels/{key}")},
                    "messages": [{"$ref": format!("#/channels/{key}/messages/{key}")}]
                }),
            );
        }
    }
    Ok(json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Skybook events",
            "version": version,
            "description": "The events Skybook's functions send to the Knative Broker, and who receives them.",
            "license": {"name": "Apache-2.0"}
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages}
    }))
}
