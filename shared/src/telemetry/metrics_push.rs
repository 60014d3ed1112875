//! Metrics pushed by OTLP/HTTP (protobuf) when an endpoint is configured, so
//! a pod scaled to zero does not take its last minute of numbers with it:
//! the registry `/metrics` serves, read back from its OpenMetrics exposition
//! into OTLP's data model (cumulative sums, gauges, explicit-bucket
//! histograms), every `OTEL_METRIC_EXPORT_INTERVAL` ms (60 s) and once more
//! at shutdown. `OTEL_METRICS_EXPORTER=none` turns it off.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

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

/// The metrics of an OpenMetrics exposition, as OTLP has them: counters as
/// cumulative monotonic sums, gauges, histograms with explicit buckets.
fn read_exposition(text: &str, start: u64, now: u64) -> Vec<Metric> {
    let mut metrics: Vec<Metric> = Vec::new();
    let mut family = Family::default();
    // A family's HELP comes before its TYPE.
    let mut help: Option<(&str, &str)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            metrics.extend(family.finish(start, now));
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let help = help.take().filter(|(of, _)| *of == name).map_or("", |(_, help)| help);
            family = Family {
                name: name.to_owned(),
                kind: kind.to_owned(),
                help: help.to_owned(),
                ..Family::default()
            };
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            help = rest.split_once(' ');
        } else if !line.starts_with('#')
            && let Some((name, labels, value)) = sample(line)
        {
            family.add(name, labels, value);
        }
    }
    metrics.extend(family.finish(start, now));
    metrics
}

/// A sample's labels, as written.
type Labels = Vec<(String, String)>;

/// One histogram as read so far: cumulative counts by bound, the sum, the count.
#[derive(Default)]
struct Buckets {
    cumulative: Vec<(f64, u64)>,
    sum: f64,
    count: u64,
}

/// One family as read so far.
#[derive(Default)]
struct Family {
    name: String,
    kind: String,
    help: String,
    numbers: Vec<(Labels, f64)>,
    histograms: BTreeMap<Labels, Buckets>,
}

impl Family {
    fn add(&mut self, sample: &str, mut labels: Labels, value: f64) {
        let suffix = sample.strip_prefix(self.name.as_str()).unwrap_or_default();
        match (self.kind.as_str(), suffix) {
            ("counter", "_total") | ("gauge", "") => self.numbers.push((labels, value)),
            ("histogram", "_bucket") => {
                let at = labels.iter().position(|(name, _)| name == "le");
                let bound = at.map(|at| labels.remove(at).1).and_then(|le| parse_number(&le));
                if let Some(bound) = bound {
                    self.histograms.entry(labels).or_default().cumulative.push((bound, value as u64));
                }
            }
            ("histogram", "_sum") => self.histograms.entry(labels).or_default().sum = value,
            ("histogram", "_count") => self.histograms.entry(labels).or_default().count = value as u64,
            _ => {}
        }
    }

    fn finish(&mut self, start: u64, now: u64) -> Option<Metric> {
        let point = |labels: &[(String, String)], value: f64| NumberDataPoint {
            attributes: labels.iter().map(|(k, v)| attribute(k, v)).collect(),
            start_time_unix_nano: start,
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsDouble(value)),
            ..Default::default()
        };
        let numbers = std::mem::take(&mut self.numbers);
        let data = match self.kind.as_str() {
            "counter" => metric::Data::Sum(Sum {
                data_points: numbers.iter().map(|(labels, value)| point(labels, *value)).collect(),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
            "gauge" => metric::Data::Gauge(Gauge {
                data_points: numbers.iter().map(|(labels, value)| point(labels, *value)).collect(),
            }),
            "histogram" => metric::Data::Histogram(Histogram {
                data_points: std::mem::take(&mut self.histograms)
                    .into_iter()
                    .map(|(labels, Buckets { cumulative: mut buckets, sum, count })| {
                        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                        // Cumulative counts per bound become counts per bucket;
                        // the +Inf bound is the last bucket's, not a bound.
                        let mut previous = 0;
                        let bucket_counts = buckets
                            .iter()
                            .map(|(_, cumulative)| cumulative - std::mem::replace(&mut previous, *cumulative))
                            .collect();
                        HistogramDataPoint {
                            attributes: labels.iter().map(|(k, v)| attribute(k, v)).collect(),
                            start_time_unix_nano: start,
                            time_unix_nano: now,
                            count,
                            sum: Some(sum),
                            bucket_counts,
                            explicit_bounds: buckets
                                .iter()
                                .map(|(b, _)| *b)
                                .filter(|b| b.is_finite())
                                .collect(),
                            ..Default::default()
                        }
                    })
                    .collect(),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
            _ => return None,
        };
        let unit = if self.name.ends_with("_seconds") { "s" } else { "" };
        Some(Metric {
            name: std::mem::take(&mut self.name),
            description: std::mem::take(&mut self.help),
            unit: unit.into(),
            data: Some(data),
            ..Default::default()
        })
    }
}

/// A sample line: `name{a="x",b="y"} value`.
fn sample(line: &str) -> Option<(&str, Labels, f64)> {
    let name_end = line.find(['{', ' '])?;
    let (name, mut rest) = line.split_at(name_end);
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        let mut key = String::new();
        let end = loop {
            let (at, c) = chars.next()?;
            match c {
                '}' => break at,
                ',' => {}
                '=' => {
                    let (_, '"') = chars.next()? else { return None };
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '"' => break,
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            other => value.push(other),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                other => key.push(other),
            }
        };
        rest = &inner[end + 1..];
    }
    let value = parse_number(rest.split_whitespace().next()?)?;
    Some((name, labels, value))
}

fn parse_number(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }),
        ..Default::default()
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

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = r#"# HELP skybook_requests Invocations by function and HTTP status code.
# TYPE skybook_requests counter
skybook_requests_total{function="create-booking",code="201"} 3
skybook_requests_created{function="create-booking",code="201"} 1700000000.0
# HELP skybook_outbox_backlog Outbox rows.
# TYPE skybook_outbox_backlog gauge
skybook_outbox_backlog{state="pending, \"quoted\""} 7
# TYPE skybook_request_duration_seconds histogram
skybook_request_duration_seconds_sum{function="f"} 0.75
skybook_request_duration_seconds_count{function="f"} 3
skybook_request_duration_seconds_bucket{le="0.1",function="f"} 1
skybook_request_duration_seconds_bucket{le="0.5",function="f"} 2
skybook_request_duration_seconds_bucket{le="+Inf",function="f"} 3
# EOF
"#;

    fn value(point: &NumberDataPoint) -> f64 {
        match point.value {
            Some(number_data_point::Value::AsDouble(v)) => v,
            _ => f64::NAN,
        }
    }

    #[test]
    fn an_exposition_reads_back_as_otlp_metrics() {
        let metrics = read_exposition(EXPOSITION, 1, 2);
        let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["skybook_requests", "skybook_outbox_backlog", "skybook_request_duration_seconds"]);

        let Some(metric::Data::Sum(sum)) = &metrics[0].data else { panic!("a counter is a sum") };
        assert!(sum.is_monotonic);
        assert_eq!(sum.data_points.len(), 1, "the _created sample is not a point");
        assert_eq!(value(&sum.data_points[0]), 3.0);
        assert_eq!(sum.data_points[0].attributes.len(), 2);
        assert_eq!(metrics[0].description, "Invocations by function and HTTP status code.");

        let Some(metric::Data::Gauge(gauge)) = &metrics[1].data else { panic!("a gauge") };
        let label = &gauge.data_points[0].attributes[0];
        let Some(any_value::Value::StringValue(text)) = label.value.as_ref().and_then(|v| v.value.clone())
        else {
            panic!("a string label")
        };
        assert_eq!(text, "pending, \"quoted\"");

        let Some(metric::Data::Histogram(histogram)) = &metrics[2].data else { panic!("a histogram") };
        let point = &histogram.data_points[0];
        assert_eq!(point.explicit_bounds, [0.1, 0.5]);
        assert_eq!(point.bucket_counts, [1, 1, 1], "cumulative counts become counts per bucket");
        assert_eq!((point.count, point.sum), (3, Some(0.75)));
        assert_eq!(metrics[2].unit, "s");
    }

    #[test]
    fn a_line_that_is_not_a_sample_is_skipped() {
        assert!(sample("skybook_x{a=\"unterminated} 1").is_none());
        assert!(sample("skybook_x{a=\"b\"}").is_none());
        assert_eq!(sample("skybook_x 2").map(|(n, l, v)| (n, l.len(), v)), Some(("skybook_x", 0, 2.0)));
    }
}
