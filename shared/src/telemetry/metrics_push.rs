//! Metrics pushed by OTLP/HTTP (protobuf) when an endpoint is configured, so
//! a pod scaled to zero does not take its last minute of numbers with it:
//! the registry `/metrics` serves, read back from its OpenMetrics exposition
//! into OTLP's data model (cumulative sums, gauges, explicit-bucket
//! histograms), every `OTEL_METRIC_EXPORT_INTERVAL` ms (60 s) and once more
//! at shutdown. `OTEL_METRICS_EXPORTER=none` turns it off.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::exposition::{attribute, read_exposition};

static PUSHER: OnceLock<Arc<Pusher>> = OnceLock::new();

struct Pusher {
    endpoint: String,
    headers: reqwest::header::HeaderMap,
    http: reqwest::Client,
    resource: Vec<KeyValue>,
    started: u64,
    runtime: tokio::runtime::Handle,
}

/// Starts pushing, if the environment asks for it; `resource` names the process.
pub(super) fn start(resource: &opentelemetry_sdk::Resource) {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let off = |name: &str| var(name).is_some_and(|v| v.eq_ignore_ascii_case("none") || v == "true");
    if off("OTEL_SDK_DISABLED") || off("OTEL_METRICS_EXPORTER") {
        return;
    }
    let endpoint = match (var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"), var("OTEL_EXPORTER_OTLP_ENDPOINT")) {
        (Some(endpoint), _) => endpoint,
        (None, Some(base)) => format!("{}/v1/metrics", base.trim_end_matches('/')),
        (None, None) => return,
    };
    let Some(runtime) = super::exporting_runtime() else { return };
    let Ok(http) = reqwest::Client::builder().timeout(Duration::from_secs(10)).build() else { return };
    let mut headers = reqwest::header::HeaderMap::new();
    let listed = var("OTEL_EXPORTER_OTLP_METRICS_HEADERS").or_else(|| var("OTEL_EXPORTER_OTLP_HEADERS"));
    for pair in listed.iter().flat_map(|list| list.split(',')) {
        if let Some((name, value)) = pair.split_once('=')
            && let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()),
                reqwest::header::HeaderValue::from_str(&percent_decode(value.trim())),
            )
        {
            headers.insert(name, value);
        }
    }
    let resource = resource.iter().map(|(key, value)| attribute(key.as_str(), &value.to_string())).collect();
    let pusher = Arc::new(Pusher { endpoint, headers, http, resource, started: unix_nanos(), runtime });
    if PUSHER.set(pusher.clone()).is_err() {
        return;
    }
    let every = var("OTEL_METRIC_EXPORT_INTERVAL").and_then(|ms| ms.parse().ok()).unwrap_or(60_000u64);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(every.max(100)));
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = pusher.push().await {
                tracing::warn!(error = %e, "metrics: the push failed; the next one carries the totals");
            }
        }
    });
}

/// One last push, within `grace`: called as the process stops, outside its
/// runtime (whose threads carry the request).
pub(super) fn flush(grace: Duration) {
    if let Some(pusher) = PUSHER.get()
        && let Ok(Err(e)) =
            pusher.runtime.block_on(async { tokio::time::timeout(grace, pusher.push()).await })
    {
        eprintln!("metrics: the last push failed: {e}");
    }
}

impl Pusher {
    async fn push(&self) -> Result<(), String> {
        let metrics = read_exposition(&crate::metrics::render(), self.started, unix_nanos());
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource { attributes: self.resource.clone(), ..Default::default() }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope { name: "skybook".into(), ..Default::default() }),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let response = self
            .http
            .post(&self.endpoint)
            .headers(self.headers.clone())
            .header("content-type", "application/x-protobuf")
            .body(request.encode_to_vec())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(format!("the collector answered {status}")),
        }
    }
}

/// `%XX` escapes decoded, as `OTEL_EXPORTER_OTLP_HEADERS` values are written.
fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map_or_else(|| text.to_owned(), |(_, value)| value.into_owned())
}

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}
