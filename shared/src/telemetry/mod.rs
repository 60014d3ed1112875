//! Logs, traces and pushed metrics, set up once per process: JSON logs for
//! the cluster (pretty for a terminal) filtered by `RUST_LOG`; OpenTelemetry
//! traces and a push of the metrics over OTLP when the standard `OTEL_*`
//! variables ask for them, and no cost at all when they do not.

mod exposition;
mod metrics_push;
mod otlp;
pub mod trace_context;

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

/// What the process exports, to flush before it exits.
static TRACER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Installs the global subscriber once per process; later calls are no-ops,
/// so tests can call it freely. `service` names the process in its traces
/// (unless `OTEL_SERVICE_NAME` does). Traces and metrics are exported only
/// when an OTLP endpoint is configured, and then only when `init` runs inside
/// a multi-thread runtime, whose threads carry the exports.
pub fn init(service: &str, filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours for a person at a terminal only: in a file or a pipe they are
    // bytes to strip, written (and formatted, span by span) for nothing.
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let logs = match format {
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(true).boxed(),
        LogFormat::Pretty => logs.compact().boxed(),
    };
    trace_context::install_propagator();
    let resource = otlp::configured().then(|| otlp::resource(service));
    if let Some(resource) = &resource {
        metrics_push::start(resource);
    }
    let traces = resource.and_then(|resource| otlp::tracer_provider(service, resource)).map(|provider| {
        use opentelemetry::trace::TracerProvider;
        let tracer = provider.tracer("skybook");
        let layer = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(otlp::span_filter());
        (provider, layer)
    });
    let (provider, layer) = traces.unzip();
    let installed =
        tracing_subscriber::registry().with(logs.with_filter(filter)).with(layer).try_init().is_ok();
    if let Some(provider) = provider.filter(|_| installed) {
        let _ = TRACER.set(provider);
    }
}

/// Sends the spans not yet exported, and pushes the metrics a last time
/// (when either is exported), then stops the exporter: the last thing a
/// process does (SIGTERM may be Knative scaling it to zero). Call it outside
/// the runtime, which must still be alive: its threads carry the export.
pub fn shutdown(grace: Duration) {
    metrics_push::flush(grace);
    if let Some(provider) = TRACER.get()
        && let Err(e) = provider.shutdown_with_timeout(grace)
    {
        eprintln!("traces: the last spans could not be exported: {e}");
    }
}

/// The runtime exports ride on: the one `init` runs in, if it has threads of
/// its own (a function's, the broker's). Exports are handed to it from the
/// exporter's thread, and at shutdown from outside it, which only a
/// multi-thread runtime runs; elsewhere (a one-shot job, a test) nothing is
/// exported.
fn exporting_runtime() -> Option<tokio::runtime::Handle> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    (runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread).then_some(runtime)
}

/// Whether spans leave the process.
pub fn exporting() -> bool {
    TRACER.get().is_some()
}

/// The Knative Service and Revision this process serves (`K_SERVICE`,
/// `K_REVISION`, set by Knative), empty elsewhere: in every request's log lines.
pub fn knative() -> (&'static str, &'static str) {
    static NAMES: std::sync::LazyLock<(String, String)> = std::sync::LazyLock::new(|| {
        (std::env::var("K_SERVICE").unwrap_or_default(), std::env::var("K_REVISION").unwrap_or_default())
    });
    (&NAMES.0, &NAMES.1)
}

/// The trace id of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`), or "".
pub fn trace_id(traceparent: &str) -> &str {
    match traceparent.split('-').collect::<Vec<_>>()[..] {
        [_, id, _, _] if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) => id,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_trace_id_of_a_traceparent() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(super::trace_id(traceparent), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(super::trace_id("garbage"), "");
        assert_eq!(super::trace_id(""), "");
    }
}
