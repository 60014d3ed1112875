//! CloudEvents in and out: binary, structured and plain-JSON requests become
//! one [`Incoming`]; a reply becomes a binary-mode CloudEvent response.

pub mod bounds;
pub mod headers;
pub mod sequence;
pub mod signature;

pub use bounds::{MAX_EXTENSION, MAX_EXTENSIONS, MAX_ID, MAX_SOURCE, MAX_SUBJECT, MAX_TYPE};

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use cloudevents::{AttributesReader, Data};
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::http::Body;
use crate::telemetry::trace_context::Parent;

const STRUCTURED: &str = "application/cloudevents+json";
const BATCH: &str = "application/cloudevents-batch+json";
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// What a PingSource sends on every tick (Knative's type).
pub const PING: &str = "dev.knative.sources.ping";
/// In a [`Spec`](crate::Spec)'s `accepts`: events of any type (a dead-letter sink).
pub const ANY_TYPE: &str = "*";

/// A request as a function sees it, whatever mode it arrived in.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub id: String,
    pub source: String,
    pub ty: String,
    pub subject: Option<String>,
    pub time: Option<DateTime<Utc>>,
    /// The trace context this request continues: the `traceparent` and
    /// `tracestate` headers (the hop that delivered it), else the event's
    /// own Distributed Tracing extension.
    pub trace: Option<Parent>,
    /// Extension attributes as strings (`traceparent` and `tracestate` among
    /// them: the context the event was created in).
    pub extensions: BTreeMap<String, String>,
    /// The key that makes a redelivered command a no-op: ce-source + ce-id,
    /// or the `Idempotency-Key` header of a plain JSON request.
    pub idempotency_key: Option<String>,
    pub data: Bytes,
}

impl Incoming {
    /// Reads a request in any of the three modes and checks that its type is
    /// the one the function accepts.
    pub fn parse(headers: &HeaderMap, body: Bytes, accepts: &[&str]) -> Result<Self, Error> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase());
        let incoming = match content_type.as_deref() {
            Some(ct) if ct.starts_with(BATCH) => {
                return Err(Error::UnsupportedMediaType {
                    message: "batched CloudEvents are not accepted: send one event per request".into(),
                });
            }
            Some(ct) if ct.starts_with(STRUCTURED) => Self::from_cloudevent(headers, body, true)?,
            _ if self::headers::is_binary(headers) => Self::from_cloudevent(headers, body, false)?,
            _ if headers.keys().any(|k| k.as_str().starts_with("ce-")) => {
                return Err(Error::malformed(
                    "invalid_cloudevent",
                    "ce-* headers without ce-specversion: a binary-mode CloudEvent needs ce-specversion, ce-id, ce-source and ce-type",
                ));
            }
            Some(ct) if is_json(ct) => Self::from_plain_json(headers, body, accepts)?,
            None => Self::from_plain_json(headers, body, accepts)?,
            Some(other) => {
                return Err(Error::UnsupportedMediaType {
                    message: format!(
                        "content type {other} is not accepted: send a CloudEvent or application/json"
                    ),
                });
            }
        };
        incoming.check_bounds()?;
        if !accepts.contains(&incoming.ty.as_str()) && !accepts.contains(&ANY_TYPE) {
            return Err(Error::malformed(
                "wrong_event_type",
                format!("this function accepts events of type {}, not {}", accepts.join(" or "), incoming.ty),
            ));
        }
        Ok(incoming)
    }

    /// Refuses an attribute past its limit with a 400 naming it and the limit.
    fn check_bounds(&self) -> Result<(), Error> {
        let extensions = self.extensions.iter().map(|(name, value)| (name.as_str(), value.len()));
        bounds::check(&self.id, &self.source, &self.ty, self.subject.as_deref(), extensions)
    }

    fn from_cloudevent(headers: &HeaderMap, body: Bytes, structured: bool) -> Result<Self, Error> {
        let event = if structured {
            // The SDK recognises structured mode by a lower-case content type only.
            let mut lowered = headers.clone();
            lowered.insert(header::CONTENT_TYPE, HeaderValue::from_static(STRUCTURED));
            cloudevents::binding::http::to_event(&lowered, body.to_vec()).map_err(|e| e.to_string())
        } else {
            self::headers::read_binary(headers, body)
        }
        .and_then(|event| self::headers::check_required(&event).map(|()| event))
        .and_then(|event| {
            let invalid = event.iter().map(|(name, _)| name).find(|name| !valid_attribute_name(name));
            match invalid.map(str::to_owned) {
                Some(name) => Err(format!(
                    "invalid attribute name {name:?}: lower-case letters a-z and digits, not \"data\""
                )),
                None => Ok(event),
            }
        })
        .map_err(|e| Error::malformed("invalid_cloudevent", format!("not a valid CloudEvent: {e}")))?;

        if let Some(ct) = event.datacontenttype()
            && !is_json(&ct.to_ascii_lowercase())
        {
            return Err(Error::UnsupportedMediaType {
                message: format!("event data of type {ct} is not accepted: send application/json"),
            });
        }
        let trace = Parent::from_headers(headers)
            .or_else(|| Parent::read(|name| event.extension(name).map(|v| v.to_string())));
        let data = match event.data() {
            None => Bytes::new(),
            Some(Data::Binary(bytes)) => Bytes::from(bytes.clone()),
            Some(Data::String(text)) => Bytes::from(text.clone()),
            Some(Data::Json(value)) => Bytes::from(serde_json::to_vec(value).map_err(anyhow::Error::from)?),
        };
        let source = event.source().to_string();
        let id = event.id().to_owned();
        let extensions =
            event.iter_extensions().map(|(name, value)| (name.to_owned(), value.to_string())).collect();
        Ok(Incoming {
            idempotency_key: Some(format!("ce:{}:{source}{id}", source.len())),
            id,
            source,
            ty: event.ty().to_owned(),
            subject: event.subject().map(str::to_owned),
            time: event.time().copied(),
            trace,
            extensions,
            data,
        })
    }

    /// A query asked by GET: its parameters, read as JSON data.
    pub fn from_query(headers: &HeaderMap, data: Bytes, accepts: &[&str]) -> Result<Self, Error> {
        let incoming = Self::from_plain_json(headers, data, accepts)?;
        incoming.check_bounds()?;
        Ok(incoming)
    }

    fn from_plain_json(headers: &HeaderMap, body: Bytes, accepts: &[&str]) -> Result<Self, Error> {
        if accepts.first() == Some(&ANY_TYPE) {
            return Err(Error::malformed(
                "invalid_cloudevent",
                "this function takes CloudEvents only: plain JSON names no type",
            ));
        }
        let key = match headers.get("idempotency-key") {
            None => None,
            Some(v) => {
                let key = v.to_str().map_err(|_| {
                    Error::malformed("invalid_idempotency_key", "Idempotency-Key must be visible ASCII")
                })?;
                if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
                    return Err(Error::malformed(
                        "invalid_idempotency_key",
                        format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters"),
                    ));
                }
                Some(key.to_owned())
            }
        };
        Ok(Incoming {
            id: uuid::Uuid::now_v7().to_string(),
            source: "/skybook/http".to_owned(),
            ty: accepts.first().copied().unwrap_or_default().to_owned(),
            subject: None,
            time: None,
            trace: Parent::from_headers(headers),
            extensions: BTreeMap::new(),
            idempotency_key: key.map(|k| format!("key:{k}")),
            data: body,
        })
    }

    /// The event data as the function's input type. No data reads as `{}`,
    /// so a query with no filters needs no body.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        let data: &[u8] = if self.data.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &self.data };
        let de = &mut serde_json::Deserializer::from_slice(data);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = if path == "." || path.is_empty() {
                format!("invalid data: {inner}")
            } else {
                format!("invalid data at {path}: {inner}")
            };
            let code = if inner.is_syntax() || inner.is_eof() { "malformed_json" } else { "invalid_data" };
            Error::malformed(code, message)
        })
    }
}

/// The statuses Knative's data plane retries: server errors, and the few
/// client errors that can pass with time. Any other 4xx will fail the same
/// way again. What the broker retries, and what the relay parks.
pub fn retryable(status: u16) -> bool {
    status >= 500 || matches!(status, 404 | 408 | 409 | 429)
}

/// An attribute name as the spec allows it: lower-case letters a-z and
/// digits, 1 to 64 of them (the spec asks for 20 at most), never `data`.
pub fn valid_attribute_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name != "data"
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_json(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    media == "application/json" || media.ends_with("+json") || media == "text/json"
}

/// A reply event as sent, kept whole so a redelivered command can be answered
/// with exactly the same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyEvent {
    pub id: String,
    pub ty: String,
    pub source: String,
    pub subject: Option<String>,
    pub time: DateTime<Utc>,
    pub data: String,
}

impl ReplyEvent {
    /// The reply in CloudEvents binary mode, status 200, its `dataschema`
    /// naming the published schema of its type's data. Written straight to
    /// headers: every attribute is ours, a string, and encoded as the HTTP
    /// binding says, so the body is handed on as it is, never copied.
    pub fn into_response(self) -> Result<Response<Body>, Error> {
        let mut headers = HeaderMap::with_capacity(8);
        let mut put = |name: &'static str, value: &str| -> Result<(), Error> {
            let value = HeaderValue::try_from(self::headers::encode(value))
                .map_err(|e| anyhow::anyhow!("encoding the reply's {name}: {e}"))?;
            headers.insert(http::HeaderName::from_static(name), value);
            Ok(())
        };
        put("ce-specversion", "1.0")?;
        put("ce-id", &self.id)?;
        put("ce-type", &self.ty)?;
        put("ce-source", &self.source)?;
        put("ce-time", &self.time.to_rfc3339())?;
        put("ce-dataschema", &crate::contract::id(&self.ty))?;
        if let Some(subject) = &self.subject {
            put("ce-subject", subject)?;
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let mut response = Response::new(crate::http::full(Bytes::from(self.data)));
        *response.status_mut() = StatusCode::OK;
        *response.headers_mut() = headers;
        Ok(response)
    }
}
