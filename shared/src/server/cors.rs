//! CORS for the functions a browser calls (queries and commands): a
//! preflight answered for the origins `CORS_ALLOWED_ORIGINS` lists, and
//! each answer to them marked readable. None by default: no origin reads
//! an answer unless the deployment says so.

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use crate::body::Body;
use crate::error::Error;

/// The request headers a browser may send: identity, the body's type, a
/// command's key, the trace it continues.
const ALLOWED_HEADERS: &str = "authorization, content-type, idempotency-key, traceparent, tracestate";
/// The answer's headers a browser may read besides the simple ones.
const EXPOSED_HEADERS: &str =
    "etag, retry-after, www-authenticate, ce-id, ce-type, ce-source, ce-subject, ce-time";
/// How long a browser may keep a preflight's answer.
const MAX_AGE_SECS: &str = "600";

/// The origins allowed, and the methods the function answers.
pub(super) struct Cors {
    origins: Vec<String>,
    methods: &'static str,
}

impl Cors {
    /// `None` with no origin allowed.
    pub(super) fn new(origins: &[String], methods: &'static str) -> Option<Cors> {
        (!origins.is_empty()).then(|| Cors { origins: origins.to_vec(), methods })
    }

    fn allowed<'a>(&self, origin: Option<&'a HeaderValue>) -> Option<&'a HeaderValue> {
        let origin = origin?;
        self.origins.iter().any(|o| origin.as_bytes().eq_ignore_ascii_case(o.as_bytes())).then_some(origin)
    }

    /// A browser's preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`), answered; `None` for any other OPTIONS.
    pub(super) fn preflight(this: Option<&Cors>, headers: &HeaderMap) -> Option<Response<Body>> {
        if !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
            || !headers.contains_key(header::ORIGIN)
        {
            return None;
        }
        let Some((cors, origin)) =
            this.and_then(|cors| Some((cors, cors.allowed(headers.get(header::ORIGIN))?)))
        else {
            let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()).unwrap_or("?");
            return Some(
                Error::Forbidden {
                    message: format!("origin {origin} may not call this function (CORS_ALLOWED_ORIGINS)"),
                }
                .into_response(),
            );
        };
        let mut response = Response::new(crate::body::full(""));
        *response.status_mut() = StatusCode::NO_CONTENT;
        let out = response.headers_mut();
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(cors.methods));
        out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
        out.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE_SECS));
        out.insert(header::VARY, HeaderValue::from_static("origin"));
        Some(response)
    }

    /// Marks an answer readable by the request's origin, when it is allowed.
    pub(super) fn mark(this: Option<&Cors>, origin: Option<&HeaderValue>, response: &mut Response<Body>) {
        let Some(cors) = this else { return };
        let out = response.headers_mut();
        out.append(header::VARY, HeaderValue::from_static("origin"));
        if let Some(origin) = cors.allowed(origin) {
            out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            out.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
        }
    }
}
