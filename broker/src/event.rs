//! CloudEvents across the broker's three edges: HTTP in (binary or
//! structured), RabbitMQ (structured JSON, attributes as AMQP headers for
//! the filters), HTTP out (binary mode).

use bytes::Bytes;
use cloudevents::{AttributesReader, Data, Event};
use http::{HeaderMap, HeaderValue, header};
use lapin::types::{AMQPValue, FieldTable, ShortString};

const STRUCTURED: &str = "application/cloudevents+json";

/// Reads an event from an HTTP request or response: binary or structured mode.
pub fn from_http(headers: &HeaderMap, body: Bytes) -> Result<Event, String> {
    let structured = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with(STRUCTURED));
    let result = if structured {
        // The SDK recognises structured mode by a lower-case content type only.
        let mut lowered = headers.clone();
        lowered.insert(header::CONTENT_TYPE, HeaderValue::from_static(STRUCTURED));
        cloudevents::binding::http::to_event(&lowered, body.to_vec())
    } else {
        cloudevents::binding::http::to_event(headers, body.to_vec())
    };
    result.map_err(|e| e.to_string())
}

/// Whether an HTTP message carries an event (a reply, say) at all.
pub fn is_event(headers: &HeaderMap) -> bool {
    headers.contains_key("ce-specversion")
        || headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.to_ascii_lowercase().starts_with(STRUCTURED))
}

/// The message body and the headers the headers exchange filters on.
pub fn to_amqp(event: &Event) -> Result<(Vec<u8>, FieldTable), serde_json::Error> {
    let payload = serde_json::to_vec(event)?;
    let mut headers = FieldTable::default();
    for (name, value) in event.iter() {
        if name == "data" || name == "data_base64" {
            continue;
        }
        headers.insert(ShortString::from(name.to_owned()), AMQPValue::LongString(value.to_string().into()));
    }
    Ok((payload, headers))
}

pub fn from_amqp(payload: &[u8]) -> Result<Event, serde_json::Error> {
    serde_json::from_slice(payload)
}

/// A binary-mode POST of `event` to `url`.
pub fn post(client: &reqwest::Client, url: &str, event: &Event) -> reqwest::RequestBuilder {
    let mut request = client.post(url);
    for (name, value) in event.iter() {
        request = if name == "datacontenttype" {
            request.header(header::CONTENT_TYPE, value.to_string())
        } else {
            request.header(format!("ce-{name}"), value.to_string())
        };
    }
    // The W3C trace context travels as its own header too.
    if let Some(traceparent) = event.extension("traceparent") {
        request = request.header("traceparent", traceparent.to_string());
    }
    let body: Vec<u8> = match event.data() {
        None => Vec::new(),
        Some(Data::Binary(bytes)) => bytes.clone(),
        Some(Data::String(text)) => text.clone().into_bytes(),
        Some(Data::Json(value)) => serde_json::to_vec(value).unwrap_or_default(),
    };
    request.body(body)
}

/// The event's id and type, for logs.
pub fn describe(event: &Event) -> String {
    format!("{} ({})", event.id(), event.ty())
}
