//! The body of every response here, and the one way to make a whole one:
//! below both the errors (which answer with a body) and the HTTP server.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

/// The body type of every response.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A body of these bytes, whole.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}
