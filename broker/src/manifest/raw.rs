//! The manifests as written: the fields the local broker reads, before
//! they are checked and resolved into the routing.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::filter::RawFilter;

#[derive(Deserialize)]
pub(super) struct Manifest {
    pub(super) kind: String,
    pub(super) metadata: Metadata,
    #[serde(default)]
    pub(super) spec: serde_norway::Value,
}

#[derive(Deserialize)]
pub(super) struct Metadata {
    pub(super) name: String,
    #[serde(default = "default_namespace")]
    pub(super) namespace: String,
}

fn default_namespace() -> String {
    "default".into()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawDelivery {
    pub(super) retry: Option<u32>,
    pub(super) backoff_policy: Option<String>,
    pub(super) backoff_delay: Option<String>,
    pub(super) dead_letter_sink: Option<RawDestination>,
}

#[derive(Deserialize)]
pub(super) struct RawDestination {
    #[serde(rename = "ref")]
    pub(super) reference: Option<RawRef>,
    pub(super) uri: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct RawRef {
    pub(super) kind: String,
    pub(super) name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrigger {
    pub(super) broker: String,
    #[serde(default)]
    pub(super) filter: Option<RawAttributes>,
    #[serde(default)]
    pub(super) filters: Option<Vec<RawFilter>>,
    pub(super) subscriber: RawDestination,
    #[serde(default)]
    pub(super) delivery: Option<RawDelivery>,
}

#[derive(Deserialize)]
pub(super) struct RawAttributes {
    #[serde(default)]
    pub(super) attributes: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawPingSource {
    pub(super) schedule: String,
    #[serde(default)]
    pub(super) content_type: Option<String>,
    #[serde(default)]
    pub(super) data: Option<String>,
    pub(super) sink: RawDestination,
}

#[derive(Deserialize, Default)]
pub(super) struct RawBroker {
    #[serde(default)]
    pub(super) delivery: Option<RawDelivery>,
}
