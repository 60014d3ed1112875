//! The longest attributes an event may carry, checked where events enter: a
//! function, and the broker's ingress (whose AMQP headers carry every
//! attribute and must fit in one frame).

use cloudevents::AttributesReader;

use crate::error::Error;

/// The longest attributes, in bytes: an id and a source name the event for
/// idempotency and dead letters, and what they become (index keys, metric
/// labels, AMQP headers) must stay small.
pub const MAX_ID: usize = 256;
pub const MAX_SOURCE: usize = 512;
pub const MAX_TYPE: usize = 256;
pub const MAX_SUBJECT: usize = 256;
pub const MAX_EXTENSION: usize = 1024;
/// The most extensions one event may carry.
pub const MAX_EXTENSIONS: usize = 32;

/// Refuses an attribute past its limit with a 400 naming it and the limit.
pub fn check<'a>(
    id: &str,
    source: &str,
    ty: &str,
    subject: Option<&str>,
    extensions: impl ExactSizeIterator<Item = (&'a str, usize)>,
) -> Result<(), Error> {
    let too_long = |name: &str, len: usize, max: usize| {
        Error::malformed("attribute_too_long", format!("{name} is {len} bytes; at most {max}"))
    };
    let subject = subject.map_or(0, str::len);
    for (name, len, max) in [
        ("id", id.len(), MAX_ID),
        ("source", source.len(), MAX_SOURCE),
        ("type", ty.len(), MAX_TYPE),
        ("subject", subject, MAX_SUBJECT),
    ] {
        if len > max {
            return Err(too_long(name, len, max));
        }
    }
    if extensions.len() > MAX_EXTENSIONS {
        return Err(Error::malformed(
            "too_many_extensions",
            format!("{} extensions; at most {MAX_EXTENSIONS}", extensions.len()),
        ));
    }
    for (name, len) in extensions {
        if len > MAX_EXTENSION {
            return Err(too_long(name, len, MAX_EXTENSION));
        }
    }
    Ok(())
}

/// [`check`] for an event as the CloudEvents SDK holds it.
pub fn check_event(event: &cloudevents::Event) -> Result<(), Error> {
    let source = event.source().to_string();
    let extensions: Vec<(&str, usize)> =
        event.iter_extensions().map(|(name, value)| (name, value.to_string().len())).collect();
    check(event.id(), &source, event.ty(), event.subject(), extensions.into_iter())
}
