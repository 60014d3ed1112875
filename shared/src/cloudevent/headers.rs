//! The CloudEvents HTTP binding's headers, one codec for the functions and
//! the broker: values percent-encoded on the way out; on the way in,
//! unquoted (RFC 7230 quoted strings), percent-decoded once and checked to
//! be UTF-8; binary-mode events read from and written to `ce-*` headers.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use cloudevents::{AttributesReader, AttributesWriter, Event, EventBuilder, EventBuilderV10};
use http::{HeaderMap, HeaderName, HeaderValue, header};

/// A value as the HTTP binding writes it: printable ASCII but space, `"` and
/// `%` as is; those, and every other character, percent-encoded as UTF-8
/// with upper-case hex.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if (0x21..=0x7e).contains(&byte) && byte != b'"' && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A header value as the HTTP binding reads it: a double-quoted string is
/// unescaped first, then one round of percent-decoding (either case of hex);
/// bytes that are not UTF-8 once decoded (`%C0%A0`, say) are refused.
pub fn decode(raw: &[u8]) -> Result<String, String> {
    let raw = trim_ows(raw);
    let unquoted = match raw {
        [b'"', inner @ .., b'"'] => unquote(inner)?,
        [b'"', ..] => return Err("a quoted string is not closed".into()),
        _ => raw.to_vec(),
    };
    let mut bytes = Vec::with_capacity(unquoted.len());
    let mut at = 0;
    while at < unquoted.len() {
        if unquoted[at] == b'%' {
            let hex = unquoted.get(at + 1..at + 3).ok_or("a % is not followed by two hex digits")?;
            let hex = std::str::from_utf8(hex).map_err(|_| "a % is not followed by two hex digits")?;
            bytes.push(u8::from_str_radix(hex, 16).map_err(|_| "a % is not followed by two hex digits")?);
            at += 3;
        } else {
            bytes.push(unquoted[at]);
            at += 1;
        }
    }
    String::from_utf8(bytes).map_err(|_| "the percent-decoded value is not UTF-8".into())
}

fn trim_ows(mut raw: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = raw {
        raw = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = raw {
        raw = rest;
    }
    raw
}

/// The inside of an RFC 7230 quoted-string: `\x` stands for `x`.
fn unquote(inner: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(inner.len());
    let mut bytes = inner.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'\\' => out.push(*bytes.next().ok_or("a quoted string ends in a backslash")?),
            b'"' => return Err("a quote inside a quoted string is not escaped".into()),
            _ => out.push(byte),
        }
    }
    Ok(out)
}

/// Whether a request or response is in binary mode: it has `ce-specversion`.
pub fn is_binary(headers: &HeaderMap) -> bool {
    headers.contains_key("ce-specversion")
}

/// A binary-mode event: every `ce-*` header an attribute, `Content-Type` its
/// `datacontenttype`, the body its data, as the bytes that came.
pub fn read_binary(headers: &HeaderMap, body: Bytes) -> Result<Event, String> {
    let mut builder = EventBuilderV10::new();
    let mut dataschema = None;
    let mut seen = std::collections::BTreeSet::new();
    for (name, value) in headers {
        let Some(attribute) = name.as_str().strip_prefix("ce-") else { continue };
        if !seen.insert(attribute) {
            return Err(format!("{name} is given more than once"));
        }
        if attribute == "datacontenttype" {
            return Err("ce-datacontenttype must not be sent: the Content-Type header carries it".into());
        }
        if !crate::cloudevent::valid_attribute_name(attribute) {
            return Err(format!(
                "{name}: an attribute name is 1 to 64 lower-case letters a-z and digits, not \"data\""
            ));
        }
        let value = decode(value.as_bytes()).map_err(|e| format!("{name}: {e}"))?;
        builder = match attribute {
            "specversion" if value == "1.0" => builder,
            "specversion" => {
                return Err(format!("CloudEvents {value} is not accepted: send specversion 1.0"));
            }
            "id" => builder.id(value),
            "source" => builder.source(value),
            "type" => builder.ty(value),
            "subject" => builder.subject(value),
            "time" => builder.time(
                DateTime::parse_from_rfc3339(&value)
                    .map_err(|e| format!("ce-time: {e}"))?
                    .with_timezone(&Utc),
            ),
            "dataschema" => {
                let schema = url::Url::parse(&value).map_err(|e| format!("ce-dataschema: not a URI: {e}"))?;
                dataschema = Some(schema);
                builder
            }
            _ => builder.extension(attribute, value),
        };
    }
    for required in ["specversion", "id", "source", "type"] {
        if !seen.contains(required) {
            return Err(format!("ce-{required} is required"));
        }
    }
    let mut event = builder.build().map_err(|e| e.to_string())?;
    event.set_dataschema(dataschema);
    match headers.get(header::CONTENT_TYPE) {
        Some(content_type) => {
            let content_type = content_type.to_str().map_err(|_| "Content-Type is not visible ASCII")?;
            event.set_data(content_type.to_owned(), body.to_vec());
        }
        None if !body.is_empty() => {
            event.set_data_unchecked(body.to_vec());
        }
        None => {}
    }
    check_required(&event)?;
    Ok(event)
}

/// The attributes the spec requires non-empty (`id`, `source`, `type`, and
/// `subject` when present), in any mode.
pub fn check_required(event: &Event) -> Result<(), String> {
    for (name, empty) in [
        ("id", event.id().is_empty()),
        ("source", event.source().is_empty()),
        ("type", event.ty().is_empty()),
        ("subject", event.subject().is_some_and(str::is_empty)),
    ] {
        if empty {
            return Err(format!("{name} must not be empty"));
        }
    }
    Ok(())
}

/// The event's attributes as binary-mode headers, every value percent-encoded;
/// `datacontenttype` as `Content-Type`.
pub fn write_binary(event: &Event) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in event.iter() {
        let value = value.to_string();
        if name == "datacontenttype" {
            // A media type may hold spaces (`; charset=utf-8`), nothing past visible ASCII.
            if !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
                return Err("datacontenttype is not a header value".into());
            }
            let value = HeaderValue::try_from(value).map_err(|_| "datacontenttype is not a header value")?;
            headers.insert(header::CONTENT_TYPE, value);
            continue;
        }
        let header = HeaderName::try_from(format!("ce-{name}")).map_err(|e| e.to_string())?;
        // Percent-encoded, a value is visible ASCII: always a valid header.
        headers.insert(header, HeaderValue::try_from(encode(&value)).map_err(|e| e.to_string())?);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_the_binding_says() {
        // The spec's own example.
        assert_eq!(encode("Euro \u{20AC} \u{1F600}"), "Euro%20%E2%82%AC%20%F0%9F%98%80");
        assert_eq!(encode("a\"b%c"), "a%22b%25c");
    }

    #[test]
    fn decodes_quoted_strings_percent_escapes_and_refuses_bad_utf8() {
        assert_eq!(decode(b"Euro%20%e2%82%ac").unwrap(), "Euro \u{20AC}");
        assert_eq!(decode(br#""a \"quoted\" value""#).unwrap(), "a \"quoted\" value");
        assert_eq!(decode(br#""caf%C3%A9""#).unwrap(), "caf\u{e9}");
        assert_eq!(decode(b"%41%42").unwrap(), "AB", "needlessly encoded is accepted");
        assert!(decode(b"%C0%A0").is_err(), "an overlong encoding");
        assert!(decode(b"%ZZ").is_err());
        assert!(decode(b"50%").is_err());
        assert!(decode(br#""open"#).is_err());
    }

    #[test]
    fn round_trips_any_text() {
        for text in ["/x/caf\u{e9}", "sp ace", "\"q\"", "100%", "\u{1F600}", "tab\tand\u{7f}"] {
            assert_eq!(decode(encode(text).as_bytes()).unwrap(), text);
        }
    }
}
