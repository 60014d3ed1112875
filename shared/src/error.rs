//! The one error type of every function, and its mapping to HTTP in one place.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::body::Body;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a request can fail with. Each variant decides its status code;
/// the mapping lives in [`Error::status`] and nowhere else.
///
/// Knative retries 5xx, 404, 408, 409 and 429, so a request that can never
/// succeed answers 400 or 422, never one of those.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request cannot be understood: bad JSON, a missing CloudEvents
    /// attribute, the wrong event type, a field of the wrong type.
    #[error("{message}")]
    Malformed { code: &'static str, message: String },
    /// The content type is not one a function accepts.
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    /// No credentials where a function needs them, or an API key that is none.
    #[error("sign in: send Authorization: Bearer <token or API key>")]
    Unauthorized,
    /// No bearer token where one is needed, or one that does not hold
    /// (signature, issuer, audience, expiry): the reason says which.
    #[error("the bearer token does not hold: {reason}")]
    InvalidToken { reason: String },
    /// A valid token from a sender not allowed here.
    #[error("{message}")]
    Forbidden { message: String },
    /// An event that reached a consumer without a signature of this
    /// deployment's keys (`cloudevent::signature`): made by none of its functions.
    #[error("the event is not signed by this deployment: {message}")]
    EventNotSigned { message: String },
    /// The entity the request names does not exist.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// No route at this path.
    #[error("no such path: {0}")]
    NoRoute(String),
    /// A known path asked with a method it does not serve; `allow` lists
    /// those it does (the `Allow` header a 405 must carry).
    #[error("method not allowed: use {allow}")]
    MethodNotAllowed { allow: &'static str },
    /// The client took longer than the configured time to send the body.
    #[error("the request body did not arrive within {secs} s")]
    RequestTimeout { secs: u64 },
    /// The body is larger than the configured limit.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A rule of the domain refuses the request (age out of range, sold out).
    #[error("{message}")]
    Rule { code: &'static str, message: String },
    /// Too many requests from this client.
    #[error("too many requests, retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The function lacks a setting it needs to serve: the message says which.
    #[error("{message}")]
    NotConfigured { code: &'static str, message: String },
    /// A dependency (database, Redis, the model) is down: retryable.
    #[error("{code}: {detail}")]
    Unavailable { code: &'static str, detail: String },
    /// Anything else: a bug or an unexpected state. Detail goes to the log only.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

impl Error {
    pub fn malformed(code: &'static str, message: impl Into<String>) -> Self {
        Error::Malformed { code, message: message.into() }
    }

    pub fn rule(code: &'static str, message: impl Into<String>) -> Self {
        Error::Rule { code, message: message.into() }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Error::NotFound { code, message: message.into() }
    }

    pub fn unavailable(code: &'static str, detail: impl ToString) -> Self {
        Error::Unavailable { code, detail: detail.to_string() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::Malformed { .. } => StatusCode::BAD_REQUEST,
            Error::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Unauthorized | Error::InvalidToken { .. } => StatusCode::UNAUTHORIZED,
            Error::Forbidden { .. } | Error::EventNotSigned { .. } => StatusCode::FORBIDDEN,
            Error::NotFound { .. } | Error::NoRoute(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Error::Rule { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable { .. } | Error::NotConfigured { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::Malformed { code, .. }
            | Error::NotFound { code, .. }
            | Error::Rule { code, .. }
            | Error::Unavailable { code, .. }
            | Error::NotConfigured { code, .. } => code,
            Error::UnsupportedMediaType { .. } => "unsupported_media_type",
            Error::Unauthorized => "unauthorized",
            Error::InvalidToken { .. } => "invalid_token",
            Error::Forbidden { .. } => "forbidden",
            Error::EventNotSigned { .. } => "event_not_signed",
            Error::NoRoute(_) => "no_route",
            Error::MethodNotAllowed { .. } => "method_not_allowed",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::RequestTimeout { .. } => "request_timeout",
            Error::RateLimited { .. } => "rate_limited",
            Error::Internal(_) => "internal",
        }
    }

    /// The message a person reads. Dependencies and bugs get a generic one:
    /// their detail is for the log, not for the caller.
    fn public_message(&self) -> String {
        match self {
            Error::Unavailable { .. } => {
                "a service this function depends on is unavailable, retry later".into()
            }
            Error::Internal(_) => "internal error".into(),
            other => other.to_string(),
        }
    }

    /// The HTTP response for this error: status, and `{"error":{"code","message"}}`.
    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        match &self {
            Error::Internal(e) => tracing::error!(error = ?e, "internal error"),
            Error::Unavailable { code, detail } => tracing::warn!(code, detail, "unavailable"),
            Error::EventNotSigned { message } => tracing::warn!(message, "refused an unsigned event"),
            other => tracing::info!(status = status.as_u16(), code = other.code(), "refused: {other}"),
        }
        let message = self.public_message();
        let body =
            serde_json::to_vec(&Envelope { error: ErrorBody { code: self.code(), message: &message } })
                .unwrap_or_default();
        let mut response = Response::new(crate::body::full(Bytes::from(body)));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match self {
            Error::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Error::InvalidToken { .. } => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            Error::RateLimited { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Error::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            _ => {}
        }
        response
    }
}
