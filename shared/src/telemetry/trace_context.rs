//! W3C Trace Context (and Baggage) in and out of a span: continued from an
//! incoming request or event, handed on to an outgoing one. When spans are
//! not exported, nothing here does any work, and a caller passes on the
//! `traceparent` it was given, as a proxy that does not trace would.

use http::{HeaderMap, HeaderValue};
pub use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, global};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::exporting;

pub(super) fn install_propagator() {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
}

/// Makes `span` continue the trace the request's headers carry, or else
/// `traceparent` (the event's Distributed Tracing extension). Call it before
/// the span is first entered.
pub fn continue_from(span: &Span, headers: &HeaderMap, traceparent: Option<&str>) {
    if !exporting() {
        return;
    }
    let parent = match (headers.contains_key("traceparent"), traceparent) {
        (false, Some(traceparent)) => extract_traceparent(traceparent),
        _ => global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers))),
    };
    let _ = span.set_parent(parent);
}

/// Makes `span` continue the trace of a stored `traceparent`.
pub fn continue_traceparent(span: &Span, traceparent: Option<&str>) {
    if exporting()
        && let Some(traceparent) = traceparent
    {
        let _ = span.set_parent(extract_traceparent(traceparent));
    }
}

fn extract_traceparent(traceparent: &str) -> Context {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(traceparent) {
        headers.insert("traceparent", value);
    }
    global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(&headers)))
}

/// The headers that hand `span`'s context on (`traceparent`, `tracestate`,
/// `baggage`); none when spans are not exported.
pub fn headers_of(span: &Span) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if exporting() {
        let context = span.context();
        global::get_text_map_propagator(|p| p.inject_context(&context, &mut HeaderInjector(&mut headers)));
    }
    headers
}

/// `span`'s own `traceparent`, when spans are exported.
pub fn traceparent_of(span: &Span) -> Option<String> {
    headers_of(span).get("traceparent").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The trace id `span` belongs to, as exported; else that of `traceparent`.
pub fn trace_id_of(span: &Span, traceparent: Option<&str>) -> String {
    if exporting() {
        let context = span.context();
        let span_context = context.span().span_context().clone();
        if span_context.is_valid() {
            return span_context.trace_id().to_string();
        }
    }
    super::trace_id(traceparent.unwrap_or_default()).to_owned()
}

/// Sets OpenTelemetry attributes on `span` (the semantic conventions'
/// names, which logs need not carry); nothing when spans are not exported.
pub fn set_attributes(span: &Span, attributes: impl FnOnce() -> Vec<KeyValue>) {
    if exporting() {
        for KeyValue { key, value, .. } in attributes() {
            span.set_attribute(key, value);
        }
    }
}

/// Names `span` as exported (its name in a trace viewer).
pub fn set_name(span: &Span, name: impl FnOnce() -> String) {
    if exporting() {
        span.record("otel.name", name());
    }
}

/// Records how a call ended: the HTTP status (0: none came), and an error
/// status for a failure, as the semantic conventions read it (`server`: only
/// 5xx is the server's own failure).
pub fn record_status(span: &Span, code: u16, server: bool) {
    if !exporting() {
        return;
    }
    if code > 0 {
        span.set_attribute("http.response.status_code", i64::from(code));
    }
    let failed = if server { code >= 500 } else { code == 0 || code >= 400 };
    if failed {
        span.set_status(Status::error(if code == 0 { "no response".to_owned() } else { code.to_string() }));
    }
}

/// Marks `span` failed with `message`.
pub fn record_error(span: &Span, message: &str) {
    if exporting() {
        span.set_status(Status::error(message.to_owned()));
    }
}

/// The `traceparent` a new event carries: that of a short producer span
/// ("CloudEvents Create <type>") under the current one, per the CloudEvents
/// semantic conventions; `None` when spans are not exported.
pub fn create_event(ty: &str, id: &str) -> Option<String> {
    if !exporting() {
        return None;
    }
    let span = tracing::info_span!("create_event", otel.name = tracing::field::Empty, otel.kind = "producer");
    set_name(&span, || format!("CloudEvents Create {ty}"));
    set_attributes(&span, || {
        vec![
            KeyValue::new("cloudevents.event_type", ty.to_owned()),
            KeyValue::new("cloudevents.event_id", id.to_owned()),
        ]
    });
    traceparent_of(&span)
}
