//! The OTLP trace exporter (HTTP, protobuf), configured as every OpenTelemetry
//! SDK is: `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) turns it on;
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`,
//! `OTEL_BSP_*` and `OTEL_EXPORTER_OTLP_HEADERS`/`_TIMEOUT` tune it;
//! `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn it off.
//! Only `http/protobuf` is spoken (a collector's port 4318).

use bytes::Bytes;
use opentelemetry::KeyValue;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::Targets;

/// Whether an OTLP endpoint is configured at all.
pub(super) fn configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
}

/// What names the process in its traces and pushed metrics: `service`
/// (unless `OTEL_SERVICE_NAME` says otherwise), the Knative names, and
/// whatever `OTEL_RESOURCE_ATTRIBUTES` adds.
pub(super) fn resource(service: &str) -> Resource {
    let mut resource = Resource::builder().with_attributes([
        KeyValue::new("service.namespace", "skybook"),
        KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
    ]);
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name(service.to_owned());
    }
    let (k_service, k_revision) = super::knative();
    if !k_service.is_empty() {
        resource = resource.with_attributes([
            KeyValue::new("faas.name", k_service),
            KeyValue::new("faas.version", k_revision),
        ]);
    }
    resource.build()
}

/// The provider exporting this process's spans, if the environment asks for one.
pub(super) fn tracer_provider(service: &str, resource: Resource) -> Option<SdkTracerProvider> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let is =
        |name: &str, value: &str| std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case(value));
    let wanted = set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    if !wanted || is("OTEL_SDK_DISABLED", "true") || is("OTEL_TRACES_EXPORTER", "none") {
        return None;
    }
    let runtime = super::exporting_runtime()?;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| eprintln!("{service}: traces: {e}; not exporting"))
        .ok()?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_http_client(Client { http, runtime })
        .build()
        .map_err(|e| eprintln!("{service}: traces: {e}; not exporting"))
        .ok()?;
    Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// The spans worth exporting: the project's own, not those of the libraries
/// underneath (the exporter's own HTTP calls would trace themselves).
pub(super) fn span_filter() -> Targets {
    const QUIET: [&str; 10] = [
        "opentelemetry",
        "opentelemetry_sdk",
        "opentelemetry_otlp",
        "opentelemetry_http",
        "hyper",
        "hyper_util",
        "reqwest",
        "h2",
        "sqlx",
        "lapin",
    ];
    Targets::new()
        .with_default(tracing::Level::INFO)
        .with_targets(QUIET.map(|target| (target, tracing_subscriber::filter::LevelFilter::OFF)))
}

/// The exporter's HTTP client: the process's own reqwest, run on the
/// process's runtime. The SDK exports from a thread of its own, with no
/// runtime; the request is handed to the runtime and awaited from there.
#[derive(Debug)]
struct Client {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for Client {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let http = self.http.clone();
        let sent = self.runtime.spawn(async move {
            let request = reqwest::Request::try_from(request)?;
            let response = http.execute(request).await?;
            let mut answer = Response::builder().status(response.status());
            if let Some(headers) = answer.headers_mut() {
                headers.extend(response.headers().clone());
            }
            let body = response.bytes().await?;
            Ok::<_, HttpError>(answer.body(body)?)
        });
        sent.await?
    }
}
