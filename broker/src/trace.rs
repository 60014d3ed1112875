//! The broker's spans, so that one event is one trace from its producer to
//! its consumers: the ingress (a server span), its publish to RabbitMQ (a
//! producer span), and each delivery attempt (a consumer span). The publish
//! span's context crosses RabbitMQ in the message's `x-traceparent` and
//! `x-tracestate` headers (the event's own `traceparent` extension is its
//! producer's and is left as it came); a delivery hands on its own context
//! in the `traceparent` HTTP header.

use cloudevents::{AttributesReader, Event};
use lapin::types::{AMQPValue, FieldTable};
use shared::telemetry::trace_context::{self, KeyValue};
use tracing::Span;
use tracing::field::Empty;

/// AMQP headers that carry the publish span's context.
const TRACEPARENT: &str = "x-traceparent";
const TRACESTATE: &str = "x-tracestate";

/// The ingress's span for one request; it continues the sender's trace once
/// the event is read (`trace_context::continue_from`).
pub fn ingress(path: &str) -> Span {
    let span = tracing::info_span!("ingress", otel.name = Empty, otel.kind = "server");
    trace_context::set_name(&span, || format!("POST {path}"));
    trace_context::set_attributes(&span, || {
        vec![KeyValue::new("http.request.method", "POST"), KeyValue::new("url.path", path.to_owned())]
    });
    span
}

/// The publish of `event` to `exchange`, a child of the current span; its
/// context goes into `headers`.
pub fn publish(exchange: &str, event: &Event, headers: &mut FieldTable) -> Span {
    let span = tracing::info_span!("publish", otel.name = Empty, otel.kind = "producer");
    trace_context::set_name(&span, || format!("publish {exchange}"));
    trace_context::set_attributes(&span, || {
        let mut attributes = messaging(exchange, event, "send");
        attributes.push(KeyValue::new("messaging.operation.name", "publish"));
        attributes
    });
    for (name, value) in trace_context::headers_of(&span) {
        let (Some(name), Ok(value)) = (name, value.to_str()) else { continue };
        let key = match name.as_str() {
            "traceparent" => TRACEPARENT,
            "tracestate" => TRACESTATE,
            _ => continue,
        };
        headers.insert(key.into(), AMQPValue::LongString(value.to_owned().into()));
    }
    span
}

/// One delivery attempt of `event` from `queue` to a subscriber, a child of
/// the publish span whose context the message carries (or, from a broker
/// that did not trace, of the event's producer).
pub fn deliver(trigger: &str, queue: &str, event: &Event, headers: Option<&FieldTable>, retry: u32) -> Span {
    let span = tracing::info_span!("deliver", otel.name = Empty, otel.kind = "consumer", trigger, retry);
    let carried = |key: &str| match headers.and_then(|h| h.inner().get(key)) {
        Some(AMQPValue::LongString(value)) => Some(value.to_string()),
        _ => None,
    };
    let mut parent = http::HeaderMap::new();
    for (key, name) in [(TRACEPARENT, "traceparent"), (TRACESTATE, "tracestate")] {
        if let Some(value) = carried(key).and_then(|v| http::HeaderValue::from_str(&v).ok()) {
            parent.insert(name, value);
        }
    }
    trace_context::continue_from(&span, &parent, crate::event::trace_of(event).as_ref());
    trace_context::set_name(&span, || format!("deliver {trigger}"));
    trace_context::set_attributes(&span, || {
        let mut attributes = messaging(queue, event, "process");
        attributes.push(KeyValue::new("skybook.trigger", trigger.to_owned()));
        attributes.push(KeyValue::new("messaging.delivery.retry", i64::from(retry)));
        attributes
    });
    span
}

fn messaging(destination: &str, event: &Event, operation: &'static str) -> Vec<KeyValue> {
    vec![
        KeyValue::new("messaging.system", "rabbitmq"),
        KeyValue::new("messaging.destination.name", destination.to_owned()),
        KeyValue::new("messaging.operation.type", operation),
        KeyValue::new("messaging.message.id", event.id().to_owned()),
        KeyValue::new("cloudevents.event_id", event.id().to_owned()),
        KeyValue::new("cloudevents.event_source", event.source().to_string()),
        KeyValue::new("cloudevents.event_type", event.ty().to_owned()),
    ]
}
