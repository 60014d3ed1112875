//! CloudEvents across the broker's three edges: HTTP in (binary or
//! structured), RabbitMQ (structured JSON, attributes as AMQP headers for
//! the filters), HTTP out (binary mode, values percent-encoded). Data
//! crosses all three as the bytes it came as. The `ce-*` header codec is the
//! functions' own (`shared::cloudevent::headers`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use cloudevents::{AttributesReader, Data, Event};
use http::{HeaderMap, HeaderValue, header};
use lapin::types::{AMQPValue, FieldTable, ShortString};

use shared::cloudevent::headers as binding;
use shared::telemetry::trace_context::Parent;

const STRUCTURED: &str = "application/cloudevents+json";
const BATCH: &str = "application/cloudevents-batch+json";

fn content_type_is(headers: &HeaderMap, media: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with(media))
}

/// Whether a request is in batched mode (its content type says so, whatever
/// `ce-*` headers come with it).
pub fn is_batch(headers: &HeaderMap) -> bool {
    content_type_is(headers, BATCH)
}

/// Reads an event from an HTTP request or response: binary or structured mode.
pub fn from_http(headers: &HeaderMap, body: Bytes) -> Result<Event, String> {
    let event = if content_type_is(headers, STRUCTURED) {
        from_structured(&body).map_err(|e| e.to_string())?
    } else if binding::is_binary(headers) {
        binding::read_binary(headers, body)?
    } else {
        return Err(
            "neither binary mode (ce-specversion) nor structured mode (application/cloudevents+json)".into(),
        );
    };
    binding::check_required(&event)?;
    // The SDK reads 0.3 too, but cannot read back every 0.3 event it writes
    // (base64 data without a content type): one accepted would be lost.
    if event.specversion() != cloudevents::event::SpecVersion::V10 {
        return Err(format!("CloudEvents {} is not accepted: send specversion 1.0", event.specversion()));
    }
    // The SDK reads any name in structured mode; the spec allows lower-case
    // letters and digits only, and a header would lower-case the rest. A
    // `ce-data` header makes an extension named like the event's data, which
    // structured mode cannot tell apart from it.
    if let Some((name, _)) = event.iter().find(|(name, _)| !shared::cloudevent::valid_attribute_name(name)) {
        return Err(format!(
            "invalid attribute name {:?}: use 1 to {MAX_NAME} lower-case letters a-z and digits, not \"data\"",
            name.chars().take(MAX_NAME).collect::<String>()
        ));
    }
    Ok(event)
}

/// The longest attribute name taken. The spec asks for 20 characters at
/// most; AMQP, where names become headers, stops at 255 bytes.
const MAX_NAME: usize = 64;

/// Whether an HTTP message carries an event (a reply, say) at all.
pub fn is_event(headers: &HeaderMap) -> bool {
    binding::is_binary(headers) || content_type_is(headers, STRUCTURED)
}

/// The message body and the headers the headers exchange filters on: the
/// event in structured mode ([`to_structured`]), its attributes as headers.
pub fn to_amqp(event: &Event) -> Result<(Vec<u8>, FieldTable), serde_json::Error> {
    let payload = to_structured(event)?;
    let mut headers = FieldTable::default();
    for (name, value) in event.iter() {
        let name = ShortString::try_new(name).map_err(|e| serde::ser::Error::custom(e.to_string()))?;
        headers.insert(name, AMQPValue::LongString(value.to_string().into()));
    }
    Ok((payload, headers))
}

pub fn from_amqp(payload: &[u8]) -> Result<Event, serde_json::Error> {
    from_structured(payload)
}

/// The event in structured mode, data that came as bytes or text as
/// `data_base64`, the bytes it arrived as. The SDK's own writing would leave
/// them to its reader, which takes bytes that parse as JSON for a JSON value:
/// a number of more digits than a float holds would come out changed.
fn to_structured(event: &Event) -> Result<Vec<u8>, serde_json::Error> {
    let mut object = match serde_json::to_value(event)? {
        serde_json::Value::Object(object) => object,
        _ => return Err(serde::ser::Error::custom("an event serializes as an object")),
    };
    // A JSON value stays `data`, as the SDK wrote it: it reads back the same.
    if let Some(data @ (Data::Binary(_) | Data::String(_))) = event.data() {
        object.remove("data");
        object.insert("data_base64".into(), STANDARD.encode(data_bytes(data)?).into());
    }
    serde_json::to_vec(&object)
}

/// Reads structured mode; `data_base64` comes back as the same bytes.
fn from_structured(body: &[u8]) -> Result<Event, serde_json::Error> {
    let mut object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)?;
    let data = match object.remove("data_base64") {
        None => None,
        Some(_) if object.contains_key("data") => {
            return Err(serde::de::Error::custom("an event has data or data_base64, not both"));
        }
        Some(serde_json::Value::String(encoded)) => {
            Some(STANDARD.decode(encoded).map_err(serde::de::Error::custom)?)
        }
        Some(_) => return Err(serde::de::Error::custom("data_base64 is not a string")),
    };
    let mut event: Event = serde_json::from_value(serde_json::Value::Object(object))?;
    if let Some(bytes) = data {
        event.set_data_unchecked(bytes);
    }
    Ok(event)
}

/// The event's data as bytes: what a binary-mode body carries.
pub fn data_bytes(data: &Data) -> Result<Vec<u8>, serde_json::Error> {
    Ok(match data {
        Data::Binary(bytes) => bytes.clone(),
        Data::String(text) => text.clone().into_bytes(),
        Data::Json(value) => serde_json::to_vec(value)?,
    })
}

/// The event as an HTTP message: binary mode, as Knative delivers, with the
/// attributes as `ce-*` headers (percent-encoded) and the data as the body;
/// structured mode only for a `datacontenttype` no `Content-Type` can hold.
pub fn to_http(event: &Event) -> Result<(HeaderMap, Vec<u8>), String> {
    let (mut headers, body) = match binding::write_binary(event) {
        Ok(headers) => {
            let body = event.data().map(data_bytes).transpose().map_err(|e| e.to_string())?;
            (headers, body.unwrap_or_default())
        }
        Err(_) => {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(STRUCTURED));
            (headers, to_structured(event).map_err(|e| e.to_string())?)
        }
    };
    // The W3C trace context travels as its own headers too.
    if let Some(trace) = trace_of(event) {
        headers.extend(trace.headers());
    }
    Ok((headers, body))
}

/// The context `event` was created in: its Distributed Tracing extension.
pub fn trace_of(event: &Event) -> Option<Parent> {
    Parent::read(|name| event.extension(name).map(|v| v.to_string()))
}

/// A POST of `event` to `url`, in the mode [`to_http`] chooses.
pub fn post(
    client: &reqwest::Client,
    url: &reqwest::Url,
    event: &Event,
) -> Result<reqwest::RequestBuilder, String> {
    let (headers, body) = to_http(event)?;
    Ok(client.post(url.clone()).headers(headers).body(body))
}

/// The event's id and type, for logs.
pub fn describe(event: &Event) -> String {
    format!("{} ({})", event.id(), event.ty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn structured(json: &str) -> (HeaderMap, Bytes) {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(STRUCTURED));
        (headers, Bytes::from(json.to_owned()))
    }

    /// The headers of a binary-mode event of the given spec version, no data.
    fn binary(specversion: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in
            [("ce-specversion", specversion), ("ce-id", "1"), ("ce-source", "/x"), ("ce-type", "t")]
        {
            headers.insert(name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn an_attribute_name_a_header_would_change_is_refused() {
        let (headers, body) =
            structured(r#"{"specversion":"1.0","id":"1","source":"/x","type":"t","Region":"eu"}"#);
        let error = from_http(&headers, body).expect_err("an upper-case name is not a CloudEvents name");
        assert!(error.contains("Region"), "{error}");
    }

    #[test]
    fn data_crosses_the_queue_as_the_same_bytes() {
        let headers = binary("1.0");
        // JSON a float cannot hold, with and without a JSON content type.
        let digits = &b"{\"n\": 12345678901234567890123, \"x\": 0.1000000000000000055511}"[..];
        for content_type in [None, Some("application/json")] {
            let mut headers = headers.clone();
            if let Some(content_type) = content_type {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            }
            let event = from_http(&headers, Bytes::from_static(digits)).expect("a valid event");
            let (payload, _) = to_amqp(&event).expect("encodable");
            let queued = from_amqp(&payload).expect("readable");
            let (_, body) = to_http(&queued).expect("deliverable");
            assert_eq!(body, digits, "content type {content_type:?}");
        }
    }

    #[test]
    fn an_attribute_name_longer_than_amqp_takes_is_refused_not_a_crash() {
        let mut headers = binary("1.0");
        headers.insert(
            http::HeaderName::try_from(format!("ce-{}", "x".repeat(300))).unwrap(),
            HeaderValue::from_static("1"),
        );
        let error = from_http(&headers, Bytes::new()).expect_err("a name that long is refused");
        assert!(error.contains("1 to 64"), "{error}");
        let event: Event = serde_json::from_str(&format!(
            r#"{{"specversion":"1.0","id":"1","source":"/x","type":"t","{}":"1"}}"#,
            "x".repeat(300)
        ))
        .unwrap();
        assert!(to_amqp(&event).is_err(), "refused, where it would have panicked");
    }

    #[test]
    fn data_is_delivered_as_the_same_bytes() {
        let mut headers = binary("1.0");
        // A space in the source goes percent-encoded.
        headers.insert("ce-source", HeaderValue::from_static("/ x"));
        let digits = &b"99999990080000000000444444444444444444001012309555"[..];
        let event = from_http(&headers, Bytes::from_static(digits)).expect("a valid event");
        let (payload, _) = to_amqp(&event).expect("encodable");
        let (out_headers, out_body) = to_http(&from_amqp(&payload).expect("readable")).expect("deliverable");
        assert_eq!(out_headers["ce-source"], "/%20x");
        assert_eq!(out_body, digits);
        let delivered = from_http(&out_headers, Bytes::from(out_body)).expect("readable");
        assert_eq!(delivered.source(), "/ x");
    }

    #[test]
    fn a_json_number_crosses_the_queue_unchanged() {
        // Parsed at the ingress into the nearest float; that float must come back.
        let (headers, body) = structured(
            r#"{"specversion":"1.0","id":"1","source":"/x","type":"t","data":[22222222222222222222222222222222222222222222222]}"#,
        );
        let event = from_http(&headers, body).expect("a valid event");
        let (payload, _) = to_amqp(&event).expect("encodable");
        assert_eq!(from_amqp(&payload).expect("readable"), event);
    }

    #[test]
    fn a_content_type_a_header_cannot_carry_is_delivered_structured() {
        let (headers, body) = structured(
            r#"{"specversion":"1.0","id":"1","source":"/x","type":"t","datacontenttype":"text/plaïn","data":"a"}"#,
        );
        let event = from_http(&headers, body).expect("a valid event");
        let (out_headers, out_body) = to_http(&event).expect("deliverable");
        assert_eq!(out_headers[header::CONTENT_TYPE], STRUCTURED);
        let delivered = from_http(&out_headers, Bytes::from(out_body)).expect("readable");
        assert_eq!(delivered.datacontenttype(), Some("text/plaïn"));
    }

    #[test]
    fn only_cloudevents_1_0_is_accepted() {
        let headers = binary("0.3");
        // Data the SDK's 0.3 reader would take for JSON once it came back from the queue.
        let error = from_http(&headers, Bytes::from_static(b"\n-1\nx")).expect_err("0.3 is refused");
        assert!(error.contains("specversion 1.0"), "{error}");
    }

    #[test]
    fn an_extension_named_data_is_refused() {
        let mut headers = binary("1.0");
        headers.insert("ce-data", HeaderValue::from_static("x"));
        let error = from_http(&headers, Bytes::new()).expect_err("data is no extension name");
        assert!(error.contains("\"data\""), "{error}");
    }

    #[test]
    fn any_text_is_delivered_in_binary_mode_percent_encoded() {
        let (headers, body) = structured(
            r#"{"specversion":"1.0","id":"1","source":"/x","type":"t","subject":"Zürich 100%","team":"a \"b\"","data":{"a":1}}"#,
        );
        let event = from_http(&headers, body).expect("a valid event");
        let (out_headers, out_body) = to_http(&event).expect("deliverable");
        assert_eq!(out_headers["ce-subject"], "Z%C3%BCrich%20100%25");
        assert_eq!(out_headers["ce-team"], "a%20%22b%22");
        let delivered = from_http(&out_headers, Bytes::from(out_body)).expect("readable");
        assert_eq!(delivered.subject(), Some("Zürich 100%"));
        assert_eq!(delivered.extension("team").map(ToString::to_string).as_deref(), Some("a \"b\""));
        assert_eq!(delivered.data().map(data_bytes).transpose().unwrap(), Some(br#"{"a":1}"#.to_vec()));
    }

    #[test]
    fn an_ascii_event_is_delivered_in_binary_mode() {
        let (headers, body) = structured(
            r#"{"specversion":"1.0","id":"1","source":"/x","type":"t","subject":"b-1","data":{"a":1}}"#,
        );
        let event = from_http(&headers, body).expect("a valid event");
        let (out_headers, out_body) = to_http(&event).expect("deliverable");
        assert_eq!(out_headers["ce-subject"], "b-1");
        assert_eq!(out_body, br#"{"a":1}"#);
    }
}
