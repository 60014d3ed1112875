//! One event's send to the sink, as the publisher and the relay both make it.

use std::collections::BTreeMap;

use chrono::SecondsFormat;
use opentelemetry::KeyValue;
use tracing::Instrument;

use super::OutboxEvent;
use crate::cloudevent::headers::encode;
use crate::cloudevent::signature::{self, EventKeys, Signed};
use crate::telemetry::trace_context;

/// Where and how events are sent: `K_SINK`, the process's HTTP client, the
/// extensions the platform asked for (`K_CE_OVERRIDES`), and the keys that
/// sign every event (`EVENT_SIGNING_KEYS`).
#[derive(Clone)]
pub struct Sink {
    /// Parsed once, at start-up: a bad `K_SINK` stops the process there
    /// rather than fail every send.
    pub url: reqwest::Url,
    pub http: reqwest::Client,
    pub overrides: BTreeMap<String, String>,
    pub keys: Option<EventKeys>,
}

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub message: String,
    /// The sink refused the event itself (a 4xx other than those that pass
    /// with time): sending it again will fail the same way.
    pub poison: bool,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// POSTs one event to the sink, with the extensions the platform asked for
/// (`K_CE_OVERRIDES`). Any 2xx is delivery; the broker owns it from there.
///
/// The send is a client span in the event's own trace (the one it was
/// created in), whichever `path` sends it: the after-commit publisher, or
/// the relay much later. The event keeps its creation context as its
/// `traceparent` and `tracestate` extension; the headers are this hop's.
pub async fn send(sink: &Sink, event: &OutboxEvent, path: &'static str) -> Result<(), SendError> {
    let span =
        tracing::info_span!("send_event", otel.name = tracing::field::Empty, otel.kind = "client", path);
    let created_in = event.trace();
    trace_context::continue_parent(&span, created_in.as_ref());
    trace_context::set_name(&span, || format!("send {}", event.ty));
    trace_context::set_attributes(&span, || {
        vec![
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("url.full", sink.url.to_string()),
            KeyValue::new("cloudevents.event_id", event.event_id.to_string()),
            KeyValue::new("cloudevents.event_type", event.ty.clone()),
            KeyValue::new("skybook.outbox.path", path),
        ]
    });
    let (id, data) = (event.event_id.to_string(), event.data.to_string());
    let sequence = crate::cloudevent::sequence::format(event.seq);
    let signed = sink.keys.as_ref().map(|keys| {
        keys.sign(Signed {
            id: &id,
            source: &event.source,
            ty: &event.ty,
            subject: Some(&event.subject),
            sequence: Some(&sequence),
            data: data.as_bytes(),
        })
    });
    let mut request = sink
        .http
        .post(sink.url.clone())
        .header("ce-specversion", "1.0")
        .header("ce-id", &id)
        .header("ce-source", encode(&event.source))
        .header("ce-type", encode(&event.ty))
        .header("ce-subject", encode(&event.subject))
        .header("ce-time", event.created_at.to_rfc3339_opts(SecondsFormat::Micros, true))
        .header("ce-dataschema", encode(&crate::contract::id(&event.ty)))
        .header("ce-sequence", &sequence)
        .header("content-type", "application/json")
        .body(data);
    for (name, value) in &sink.overrides {
        request = request.header(format!("ce-{name}"), encode(value));
    }
    if let Some(signed) = signed {
        request = request.header(format!("ce-{}", signature::EXTENSION), signed);
    }
    if let Some(created_in) = &created_in {
        request = request.header("ce-traceparent", &created_in.traceparent);
        if let Some(tracestate) = &created_in.tracestate {
            request = request.header("ce-tracestate", encode(tracestate));
        }
    }
    let hop = trace_context::headers_of(&span);
    match (hop.is_empty(), &created_in) {
        (false, _) => request = request.headers(hop),
        (true, Some(created_in)) => request = request.headers(created_in.headers()),
        (true, None) => {}
    }
    let outcome = match request.send().instrument(span.clone()).await {
        Ok(response) if response.status().is_success() => Ok(response.status().as_u16()),
        Ok(response) => {
            let code = response.status().as_u16();
            let poison = (400..500).contains(&code) && !crate::cloudevent::retryable(code);
            Err((code, SendError { message: format!("sink answered {}", response.status()), poison }))
        }
        Err(e) => Err((0, SendError { message: format!("sink unreachable: {e}"), poison: false })),
    };
    let code = match &outcome {
        Ok(code) | Err((code, _)) => *code,
    };
    trace_context::record_status(&span, code, false);
    outcome.map(|_| ()).map_err(|(_, error)| error)
}
