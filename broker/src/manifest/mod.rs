//! The routing, read from the Knative manifests: the Broker, its Triggers
//! (filter, subscriber, delivery) and the PingSources.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::filter::{self, Filter};

mod raw;
mod time;

use raw::{Manifest, RawBroker, RawDestination, RawPingSource, RawTrigger};
pub use time::iso8601_duration;
use time::schedule_interval;

/// The broker's identity: its ingress path is `/{namespace}/{name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerName {
    pub namespace: String,
    pub name: String,
}

/// What the manifests say, before Service names are resolved to URLs.
#[derive(Debug, Clone)]
pub struct Routing {
    pub broker: BrokerName,
    pub triggers: Vec<TriggerSpec>,
    pub ping_sources: Vec<PingSource>,
}

#[derive(Debug, Clone)]
pub struct TriggerSpec {
    pub name: String,
    pub filter: Filter,
    pub subscriber: Destination,
    pub delivery: DeliverySpec,
}

/// A Trigger ready to dispatch: its subscriber and dead-letter sink as URLs.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub name: String,
    pub filter: Filter,
    /// Parsed once, here: every delivery posts to it.
    pub subscriber: reqwest::Url,
    pub delivery: Delivery,
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub retry: u32,
    pub backoff: Backoff,
    pub dead_letter_sink: Option<reqwest::Url>,
}

#[derive(Debug, Clone)]
pub struct DeliverySpec {
    pub retry: u32,
    pub backoff: Backoff,
    pub dead_letter_sink: Option<Destination>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backoff {
    /// delay, 2 delay, 4 delay, ...
    Exponential(Duration),
    /// delay, 2 delay, 3 delay, ...
    Linear(Duration),
}

impl Backoff {
    /// The wait before retry number `attempt` (1 for the first retry).
    pub fn before_retry(self, attempt: u32) -> Duration {
        match self {
            Backoff::Exponential(delay) => delay.saturating_mul(1u32 << (attempt.saturating_sub(1)).min(20)),
            Backoff::Linear(delay) => delay.saturating_mul(attempt),
        }
    }
}

/// A Service named by reference, or a URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Service(String),
    Uri(String),
}

#[derive(Debug, Clone)]
pub struct PingSource {
    pub name: String,
    pub namespace: String,
    pub sink: String,
    pub every: Duration,
    pub content_type: String,
    pub data: String,
}

impl Routing {
    /// Reads every `*.yaml` below `dir`; exactly one Broker must be among them.
    pub fn load(dir: &Path) -> anyhow::Result<Routing> {
        let mut manifests = Vec::new();
        collect(dir, &mut manifests)?;
        let mut brokers = Vec::new();
        let mut raw_triggers = Vec::new();
        let mut ping_sources = Vec::new();
        for (path, manifest) in manifests {
            let at = || format!("{} ({} {})", path, manifest.kind, manifest.metadata.name);
            match manifest.kind.as_str() {
                "Broker" => {
                    let spec: RawBroker = serde_norway::from_value(manifest.spec.clone()).with_context(at)?;
                    brokers.push((manifest.metadata, spec));
                }
                "Trigger" => {
                    let spec: RawTrigger =
                        serde_norway::from_value(manifest.spec.clone()).with_context(at)?;
                    raw_triggers.push((manifest.metadata, spec));
                }
                "PingSource" => {
                    let spec: RawPingSource =
                        serde_norway::from_value(manifest.spec.clone()).with_context(at)?;
                    ping_sources.push(PingSource {
                        every: schedule_interval(&spec.schedule).with_context(at)?,
                        sink: service_name(&spec.sink).with_context(at)?,
                        content_type: spec.content_type.unwrap_or_else(|| "application/json".into()),
                        data: spec.data.unwrap_or_else(|| "{}".into()),
                        name: manifest.metadata.name,
                        namespace: manifest.metadata.namespace,
                    });
                }
                _ => {}
            }
        }
        let [(broker_meta, broker_spec)]: [_; 1] = brokers
            .try_into()
            .map_err(|found: Vec<_>| anyhow::anyhow!("expected one Broker, found {}", found.len()))?;
        let broker = BrokerName { namespace: broker_meta.namespace, name: broker_meta.name };
        let broker_delivery = broker_spec.delivery.unwrap_or_default();
        let broker_dead_letters = broker_delivery
            .dead_letter_sink
            .as_ref()
            .map(destination)
            .transpose()
            .context("Broker delivery")?;
        let mut triggers = Vec::new();
        for (meta, spec) in raw_triggers {
            if spec.broker != broker.name || meta.namespace != broker.namespace {
                continue;
            }
            let delivery = spec.delivery.unwrap_or_default();
            let filter = filter::of_trigger(spec.filter.map(|f| f.attributes), spec.filters)
                .map_err(|e| anyhow::anyhow!("Trigger {}: {e}", meta.name))?;
            triggers.push(TriggerSpec {
                filter,
                subscriber: destination(&spec.subscriber)
                    .with_context(|| format!("Trigger {}", meta.name))?,
                delivery: DeliverySpec {
                    retry: delivery.retry.or(broker_delivery.retry).unwrap_or(0),
                    backoff: backoff(
                        delivery.backoff_policy.as_deref().or(broker_delivery.backoff_policy.as_deref()),
                        delivery.backoff_delay.as_deref().or(broker_delivery.backoff_delay.as_deref()),
                    )
                    .with_context(|| format!("Trigger {}", meta.name))?,
                    dead_letter_sink: match &delivery.dead_letter_sink {
                        Some(sink) => {
                            Some(destination(sink).with_context(|| format!("Trigger {}", meta.name))?)
                        }
                        None => broker_dead_letters.clone(),
                    },
                },
                name: meta.name,
            });
        }
        Ok(Routing { broker, triggers, ping_sources })
    }

    /// Resolves Service references to URLs. A subscriber without one is an
    /// error; a dead-letter sink without one falls back to a RabbitMQ queue.
    pub fn resolve(&self, services: &BTreeMap<String, String>) -> anyhow::Result<Vec<Trigger>> {
        let url = |d: &Destination| match d {
            Destination::Uri(uri) => Some(uri.clone()),
            Destination::Service(name) => services.get(name).cloned(),
        };
        let parse = |trigger: &str, url: String| {
            reqwest::Url::parse(&url).with_context(|| format!("Trigger {trigger}: {url} is not a URL"))
        };
        self.triggers
            .iter()
            .map(|t| {
                let subscriber = url(&t.subscriber).with_context(|| {
                    format!(
                        "Trigger {}: no URL for its subscriber {:?}; pass --service NAME=URL",
                        t.name, t.subscriber
                    )
                })?;
                let dead_letter_sink = t.delivery.dead_letter_sink.as_ref().and_then(url);
                Ok(Trigger {
                    name: t.name.clone(),
                    filter: t.filter.clone(),
                    subscriber: parse(&t.name, subscriber)?,
                    delivery: Delivery {
                        retry: t.delivery.retry,
                        backoff: t.delivery.backoff,
                        dead_letter_sink: dead_letter_sink.map(|sink| parse(&t.name, sink)).transpose()?,
                    },
                })
            })
            .collect()
    }
}

fn collect(dir: &Path, out: &mut Vec<(String, Manifest)>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let text = std::fs::read_to_string(&path)?;
            for document in serde_norway::Deserializer::from_str(&text) {
                let value = serde_norway::Value::deserialize(document)?;
                if value.is_null() {
                    continue;
                }
                // Only objects with a kind and a name are manifests; anything
                // else (a values file, a list) is not ours to read.
                if let Ok(manifest) = serde_norway::from_value::<Manifest>(value) {
                    out.push((path.display().to_string(), manifest));
                }
            }
        }
    }
    Ok(())
}

fn destination(raw: &RawDestination) -> anyhow::Result<Destination> {
    match (&raw.reference, &raw.uri) {
        (Some(r), _) if r.kind == "Service" => Ok(Destination::Service(r.name.clone())),
        (Some(r), _) => bail!("a {} reference cannot be resolved locally", r.kind),
        (None, Some(uri)) => Ok(Destination::Uri(uri.clone())),
        (None, None) => bail!("a destination needs a ref or a uri"),
    }
}

fn service_name(raw: &RawDestination) -> anyhow::Result<String> {
    match destination(raw)? {
        Destination::Service(name) => Ok(name),
        Destination::Uri(uri) => bail!("a PingSource sink must be a Service reference, not {uri}"),
    }
}

fn backoff(policy: Option<&str>, delay: Option<&str>) -> anyhow::Result<Backoff> {
    let delay = delay.map(iso8601_duration).transpose()?.unwrap_or(Duration::from_millis(200));
    match policy.unwrap_or("exponential") {
        "exponential" => Ok(Backoff::Exponential(delay)),
        "linear" => Ok(Backoff::Linear(delay)),
        other => bail!("unknown backoffPolicy {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_exponentially_or_linearly() {
        let exp = Backoff::Exponential(Duration::from_millis(100));
        assert_eq!(exp.before_retry(1), Duration::from_millis(100));
        assert_eq!(exp.before_retry(3), Duration::from_millis(400));
        assert_eq!(Backoff::Linear(Duration::from_millis(100)).before_retry(3), Duration::from_millis(300));
    }

    #[test]
    fn reads_the_project_manifests() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../knative");
        let routing = Routing::load(&dir).unwrap();
        assert_eq!(routing.broker, BrokerName { namespace: "skybook".into(), name: "default".into() });
        let created = routing.triggers.iter().find(|t| t.name == "booking-created-to-stats").unwrap();
        assert_eq!(created.filter.binding().get("type").map(String::as_str), Some("skybook.booking.created"));
        assert_eq!(created.subscriber, Destination::Service("record-booking-stats".into()));
        assert_eq!(created.delivery.retry, 10);
        assert_eq!(created.delivery.backoff, Backoff::Exponential(Duration::from_secs(1)));
        assert_eq!(created.delivery.dead_letter_sink, Some(Destination::Service("store-dead-letter".into())));
        let renamed = routing.triggers.iter().find(|t| t.name == "destination-updated-to-stats").unwrap();
        assert_eq!(renamed.subscriber, Destination::Service("record-destination-name".into()));
        let ticks: Vec<(&str, Duration)> =
            routing.ping_sources.iter().map(|p| (p.sink.as_str(), p.every)).collect();
        assert_eq!(
            ticks,
            [
                ("relay-outbox", Duration::from_secs(60)),
                ("reconcile-stats", Duration::from_secs(300)),
                ("reconcile-flights", Duration::from_secs(60))
            ]
        );
    }
}
