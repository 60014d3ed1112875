//! An OTLP/HTTP receiver for the drill: real protobuf exports of spans and
//! metrics, decoded with OpenTelemetry's own message types and kept.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body as hyper_body;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

/// A span as the receiver got it.
#[derive(Debug, Clone)]
pub struct Span {
    pub service: String,
    pub name: String,
    pub kind: i32,
    pub trace_id: String,
    pub span_id: String,
    pub parent: String,
    pub trace_state: String,
    pub attributes: BTreeMap<String, String>,
}

// OTLP's span kinds.
pub const SERVER: i32 = 2;
pub const CLIENT: i32 = 3;
pub const PRODUCER: i32 = 4;
pub const CONSUMER: i32 = 5;

/// A metric point as pushed: the process, the metric, its labels, its value.
#[derive(Debug, Clone)]
pub struct Point {
    pub service: String,
    pub metric: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Default)]
pub struct Export {
    pub spans: Vec<Span>,
    pub points: Vec<Point>,
}

pub type Received = Arc<Mutex<Export>>;

impl Export {
    /// Whether `service` pushed `metric` with `label` and a value of at least 1.
    pub fn pushed(&self, service: &str, metric: &str, label: (&str, &str)) -> bool {
        self.points.iter().any(|p| {
            p.service == service
                && p.metric == metric
                && p.labels.get(label.0).is_some_and(|v| v == label.1)
                && p.value >= 1.0
        })
    }
}

/// Serves OTLP/HTTP (`POST /v1/traces`, protobuf) on a free port; every
/// span received is kept. Returns the endpoint to give the exporters.
pub async fn receive(received: Received) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let handler = move |request: http::Request<hyper_body::Incoming>| {
        let received = received.clone();
        async move {
            let path = request.uri().path().to_owned();
            let body = shared::http::read_body(request.into_body(), 16 << 20, Duration::from_secs(10)).await;
            let (mut spans, mut points) = (None, None);
            match (path.as_str(), body) {
                ("/v1/traces", Ok(body)) => {
                    spans = ExportTraceServiceRequest::decode(body).ok().map(spans_of)
                }
                ("/v1/metrics", Ok(body)) => {
                    points = ExportMetricsServiceRequest::decode(body).ok().map(points_of);
                }
                _ => {}
            }
            let decoded = spans.is_some() || points.is_some();
            if let Ok(mut export) = received.lock() {
                export.spans.extend(spans.into_iter().flatten());
                export.points.extend(points.into_iter().flatten());
            }
            match decoded {
                true => {
                    let mut response = http::Response::new(shared::http::full(Vec::new()));
                    response
                        .headers_mut()
                        .insert("content-type", http::HeaderValue::from_static("application/x-protobuf"));
                    response
                }
                false => shared::http::text(http::StatusCode::BAD_REQUEST, "not an OTLP export"),
            }
        }
    };
    tokio::spawn(shared::http::serve_http(listener, handler, std::future::pending(), Duration::ZERO));
    Ok(endpoint)
}

fn spans_of(export: ExportTraceServiceRequest) -> Vec<Span> {
    let mut spans = Vec::new();
    for resource_spans in export.resource_spans {
        let service = service_of(resource_spans.resource.as_ref());
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(Span {
                    service: service.clone(),
                    name: span.name,
                    kind: span.kind,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    trace_state: span.trace_state,
                    attributes: span
                        .attributes
                        .into_iter()
                        .map(|kv| (kv.key, kv.value.map(|v| text(&v.value)).unwrap_or_default()))
                        .collect(),
                });
            }
        }
    }
    spans
}

fn points_of(export: ExportMetricsServiceRequest) -> Vec<Point> {
    let mut points = Vec::new();
    for resource_metrics in export.resource_metrics {
        let service = service_of(resource_metrics.resource.as_ref());
        for metric in resource_metrics.scope_metrics.into_iter().flat_map(|scope| scope.metrics) {
            let numbers = match metric.data {
                Some(Data::Sum(sum)) => sum.data_points,
                Some(Data::Gauge(gauge)) => gauge.data_points,
                _ => continue,
            };
            for point in numbers {
                let value = match point.value {
                    Some(number_data_point::Value::AsDouble(v)) => v,
                    Some(number_data_point::Value::AsInt(v)) => v as f64,
                    None => continue,
                };
                points.push(Point {
                    service: service.clone(),
                    metric: metric.name.clone(),
                    labels: point
                        .attributes
                        .into_iter()
                        .map(|kv| (kv.key, kv.value.map(|v| text(&v.value)).unwrap_or_default()))
                        .collect(),
                    value,
                });
            }
        }
    }
    points
}

fn service_of(resource: Option<&Resource>) -> String {
    resource
        .iter()
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref())
        .map(|v| text(&v.value))
        .unwrap_or_default()
}

fn text(value: &Option<AnyValue>) -> String {
    match value {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
