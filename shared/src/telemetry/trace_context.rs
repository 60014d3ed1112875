//! W3C Trace Context (and Baggage) in and out of a span: continued from an
//! incoming request or event, handed on to an outgoing one. When spans are
//! not exported, nothing here does any work, and a caller passes on the
//! `traceparent` and `tracestate` it was given, as a proxy that does not
//! trace would.

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

/// A trace context as text, as it crosses a process boundary: the W3C
/// `traceparent`, and the vendors' `tracestate` that goes with it. Both are
/// HTTP headers, and the attributes of the CloudEvents Distributed Tracing
/// extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    pub traceparent: String,
    pub tracestate: Option<String>,
}

/// The longest `tracestate` handed on: the 512 characters W3C asks every
/// platform to carry. A longer one is dropped rather than stored with each
/// event a caller makes.
const MAX_TRACESTATE: usize = 512;

impl Parent {
    /// Read by name (`traceparent`, `tracestate`) from headers or an event's
    /// extensions. A `traceparent` that is not W3C's version 00 (as from a
    /// client that sends anything) is no context at all, and then neither
    /// is its `tracestate`, as the specification says.
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Option<Parent> {
        let traceparent = get("traceparent").filter(|v| is_traceparent(v))?;
        let tracestate = get("tracestate").filter(|v| !v.is_empty() && v.len() <= MAX_TRACESTATE);
        Some(Parent { traceparent, tracestate })
    }

    pub fn from_headers(headers: &HeaderMap) -> Option<Parent> {
        Parent::read(|name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned))
    }

    /// As the `traceparent` and `tracestate` headers (a value that is not a
    /// valid header is left out).
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let values = [("traceparent", Some(&self.traceparent)), ("tracestate", self.tracestate.as_ref())];
        for (name, value) in values {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name, value);
            }
        }
        headers
    }
}

/// `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`, ids not all zero.
fn is_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |part: &str, len: usize| {
        part.len() == len && part.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |part: &str| part.bytes().any(|b| b != b'0');
    matches!(parts.as_slice(), ["00", trace, span, flags]
        if hex(trace, 32) && hex(span, 16) && hex(flags, 2) && nonzero(trace) && nonzero(span))
}

pub(super) fn install_propagator() {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
}

/// Makes `span` continue the trace the request's headers carry, or else
/// `event`'s (its Distributed Tracing extension). Call it before the span is
/// first entered.
pub fn continue_from(span: &Span, headers: &HeaderMap, event: Option<&Parent>) {
    if !exporting() {
        return;
    }
    let parent = match (headers.contains_key("traceparent"), event) {
        (false, Some(event)) => extract(&event.headers()),
        _ => extract(headers),
    };
    let _ = span.set_parent(parent);
}

/// Makes `span` continue the hop's context if the request's headers carry
/// one, which is known before the body is read, so that a request refused
/// before then is in its caller's trace too. Says whether they did; if not,
/// [`continue_from`] the event once it is read.
pub fn continue_hop(span: &Span, headers: &HeaderMap) -> bool {
    let carried = headers.contains_key("traceparent");
    if carried {
        continue_from(span, headers, None);
    }
    carried
}

/// Makes `span` continue a stored trace context.
pub fn continue_parent(span: &Span, parent: Option<&Parent>) {
    if exporting()
        && let Some(parent) = parent
    {
        let _ = span.set_parent(extract(&parent.headers()));
    }
}

fn extract(headers: &HeaderMap) -> Context {
    global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
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

/// The trace id `span` belongs to, as exported; else that of `parent`.
pub fn trace_id_of(span: &Span, parent: Option<&Parent>) -> String {
    if exporting() {
        let context = span.context();
        let span_context = context.span().span_context().clone();
        if span_context.is_valid() {
            return span_context.trace_id().to_string();
        }
    }
    super::trace_id(parent.map_or("", |p| p.traceparent.as_str())).to_owned()
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

/// The trace context a new event carries: that of a short producer span
/// ("CloudEvents Create <type>") under the current one, per the CloudEvents
/// semantic conventions; `None` when spans are not exported.
pub fn create_event(ty: &str, id: &str) -> Option<Parent> {
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
    Parent::from_headers(&headers_of(&span))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(traceparent: &str, tracestate: &str) -> Option<Parent> {
        Parent::read(|name| match name {
            "traceparent" => Some(traceparent.to_owned()),
            "tracestate" => Some(tracestate.to_owned()),
            _ => None,
        })
    }

    #[test]
    fn a_w3c_traceparent_is_read_with_its_tracestate() {
        let parent = read("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "vendor=a1").unwrap();
        assert_eq!(parent.tracestate.as_deref(), Some("vendor=a1"));
        let headers = parent.headers();
        assert_eq!(headers["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_eq!(headers["tracestate"], "vendor=a1");
    }

    #[test]
    fn anything_else_is_no_context_and_its_tracestate_is_not_kept() {
        for junk in [
            "",
            "not a traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            &format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01{}", "x".repeat(10_000)),
        ] {
            assert_eq!(read(junk, "vendor=a1"), None, "{junk:.60}");
        }
    }

    #[test]
    fn a_tracestate_past_512_characters_is_dropped() {
        let long = format!("vendor={}", "a".repeat(600));
        let parent = read("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &long).unwrap();
        assert_eq!(parent.tracestate, None);
    }
}
