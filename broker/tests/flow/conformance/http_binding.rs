//! The CloudEvents HTTP protocol binding (`cloudevents/bindings/http-protocol-binding.md`).

use serde_json::json;

use super::*;

/// 3.1.1: "the HTTP `Content-Type` header value corresponds to (MUST be
/// populated from or written to) the CloudEvents `datacontenttype`".
#[tokio::test]
async fn content_type_carries_datacontenttype_both_ways() {
    let rig = Rig::start().await;
    let event = json!({"specversion": "1.0", "id": "ct", "source": "/c", "type": CREATED,
                       "datacontenttype": "text/plain; charset=utf-8", "data": "hola"});
    let (headers, body) = structured(&event);
    assert_eq!(rig.post(&headers, &body).await.status, 202);
    let delivered = rig.delivered().await;
    assert_eq!(delivered.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(&delivered.body[..], b"hola");
}

/// 3.1.1: "a `ce-datacontenttype` HTTP header MUST NOT also be present in the message".
#[tokio::test]
async fn ce_datacontenttype_is_never_sent_and_refused_when_received() {
    let headers = binary(&[("ce-datacontenttype", b"application/json")]);
    let rig = Rig::start().await;
    assert_eq!(rig.post(&headers, &booking()).await.status, 400, "the broker");
    let (app, _redis) = consumer().await;
    assert_eq!(to_function(&app, &headers, &booking()).await, 400, "the function");
    assert_eq!(rig.post(&binary(&[]), &booking()).await.status, 202);
    assert_eq!(rig.delivered().await.header("ce-datacontenttype"), None);
}

/// 3.1.3: "All other CloudEvents attributes, including extensions, MUST be
/// individually mapped to and from distinct HTTP message header"; 3.1.3.1:
/// "MUST be mapped to HTTP headers with the same name as the attribute name
/// but prefixed with `ce-`".
#[tokio::test]
async fn every_attribute_travels_in_its_own_ce_header() {
    let rig = Rig::start().await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let event = json!({"specversion": "1.0", "id": "h", "source": "/c", "type": CREATED, "subject": "s-1",
                       "time": "2026-11-27T10:00:00Z", "team": "reservas", "traceparent": traceparent,
                       "data": {"a": 1}});
    let (headers, body) = structured(&event);
    assert_eq!(rig.post(&headers, &body).await.status, 202);
    let delivered = rig.delivered().await;
    for (header, value) in [
        ("ce-specversion", "1.0"),
        ("ce-id", "h"),
        ("ce-source", "/c"),
        ("ce-type", CREATED),
        ("ce-subject", "s-1"),
        ("ce-team", "reservas"),
        ("ce-traceparent", traceparent),
        // 3.1.3: an extension's own HTTP mapping comes "still" beside its ce- header.
        ("traceparent", traceparent),
    ] {
        assert_eq!(delivered.header(header), Some(value), "{header}");
    }
    assert!(delivered.header("ce-time").is_some());
}

/// 3.1.3.2: "string values represented as HTTP header values MUST be
/// percent-encoded": space, double-quote, percent and everything outside
/// U+0021-U+007E, as UTF-8, "SHOULD be performed using upper-case".
#[tokio::test]
async fn header_values_go_out_percent_encoded() {
    let rig = Rig::start().await;
    let event = json!({"specversion": "1.0", "id": "pe", "source": "/c", "type": CREATED,
                       "subject": "Zürich 100% \"x\" 😀", "data": {}});
    let (headers, body) = structured(&event);
    assert_eq!(rig.post(&headers, &body).await.status, 202);
    // A character past the Basic Multilingual Plane is one character, four UTF-8 bytes.
    assert_eq!(
        rig.delivered().await.header("ce-subject"),
        Some("Z%C3%BCrich%20100%25%20%22x%22%20%F0%9F%98%80")
    );
}

/// 3.1.3.2: "any HTTP header value MUST first be unescaped with respect to
/// double-quoted strings ... A single round of percent-decoding MUST then be
/// performed": a source sent quoted and encoded in binary mode and plainly
/// in structured mode is one source, so the same id is the same event.
#[tokio::test]
async fn a_source_is_the_same_in_binary_and_structured_mode() {
    let (app, redis) = consumer().await;
    let headers = binary(&[("ce-source", br#""/x/caf%C3%A9""#), ("ce-id", b"same")]);
    assert_eq!(to_function(&app, &headers, &booking()).await, 202);
    let event = json!({"specversion": "1.0", "id": "same", "source": "/x/café", "type": CREATED,
                       "sequence": "0000000000000000001", "data": serde_json::from_slice::<serde_json::Value>(&booking()).unwrap()});
    let (headers, body) = structured(&event);
    assert_eq!(to_function(&app, &headers, &body).await, 202);
    assert_eq!(counted(&redis).await, 1, "one event, applied once");

    let rig = Rig::start().await;
    let quoted = binary(&[("ce-subject", br#""a \"b\" c""#)]);
    assert_eq!(rig.post(&quoted, &booking()).await.status, 202);
    assert_eq!(rig.delivered().await.header("ce-subject"), Some("a%20%22b%22%20c"));
}

/// 3.1.3.2: "A single round of percent-decoding": `%2541` is `%41`, not `A`.
#[tokio::test]
async fn percent_decoding_is_done_once() {
    let rig = Rig::start().await;
    assert_eq!(rig.post(&binary(&[("ce-subject", b"%2541")]), &booking()).await.status, 202);
    assert_eq!(rig.delivered().await.header("ce-subject"), Some("%2541"));
}

/// 3.1.3.2: "decoding MUST accept lower-case values", and "values that have
/// been unnecessarily percent-encoded MUST be accepted".
#[tokio::test]
async fn lower_case_and_needless_escapes_are_accepted() {
    let rig = Rig::start().await;
    assert_eq!(rig.post(&binary(&[("ce-subject", b"caf%c3%a9%41")]), &booking()).await.status, 202);
    assert_eq!(rig.delivered().await.header("ce-subject"), Some("caf%C3%A9A"));
    let (app, redis) = consumer().await;
    assert_eq!(to_function(&app, &binary(&[("ce-source", b"/caf%c3%a9%41")]), &booking()).await, 202);
    assert_eq!(counted(&redis).await, 1);
}

/// 3.1.3.2: "encoded byte sequences which are invalid in UTF-8 MUST be
/// rejected. (For example, "%C0%A0" ... MUST be rejected.)"
#[tokio::test]
async fn percent_encoded_bytes_that_are_not_utf8_are_refused() {
    for bad in [&b"%C0%A0"[..], b"%FF", b"%E2%82"] {
        let headers = binary(&[("ce-subject", bad)]);
        let rig = Rig::start().await;
        assert_eq!(rig.post(&headers, &booking()).await.status, 400, "the broker");
        let (app, _redis) = consumer().await;
        assert_eq!(to_function(&app, &headers, &booking()).await, 400, "the function");
    }
}

/// 3.2.1: "The HTTP `Content-Type` header MUST be set to the media type of
/// an event format"; 3.2.2: "All CloudEvents metadata attributes MUST be
/// mapped into the payload": an event a header cannot carry goes structured, whole.
#[tokio::test]
async fn an_event_sent_structured_carries_its_format_and_every_attribute() {
    let rig = Rig::start().await;
    let event = json!({"specversion": "1.0", "id": "st", "source": "/c", "type": CREATED, "team": "t",
                       "datacontenttype": "text/plaïn", "data": "x"});
    let (headers, body) = structured(&event);
    assert_eq!(rig.post(&headers, &body).await.status, 202);
    let delivered = rig.delivered().await;
    assert_eq!(delivered.header("content-type"), Some("application/cloudevents+json"));
    let payload: serde_json::Value = serde_json::from_slice(&delivered.body).unwrap();
    for attribute in ["specversion", "id", "source", "type", "team", "datacontenttype"] {
        assert_eq!(payload[attribute], event[attribute], "{attribute}");
    }
}

/// 3.3: "The batched mode MUST NOT be used unless solicited": a request in
/// batched mode is answered as one (refused: one event per request), even
/// with `ce-*` headers beside it, and nothing is ever sent batched.
#[tokio::test]
async fn batched_mode_is_neither_taken_for_binary_nor_sent() {
    let headers = binary(&[("content-type", b"application/cloudevents-batch+json")]);
    let rig = Rig::start().await;
    assert_eq!(rig.post(&headers, b"[]").await.status, 415, "the broker");
    let (app, _redis) = consumer().await;
    assert_eq!(to_function(&app, &headers, b"[]").await, 415, "the function");
    assert_eq!(rig.post(&binary(&[]), &booking()).await.status, 202);
    let delivered = rig.delivered().await;
    assert!(!delivered.header("content-type").unwrap_or_default().contains("batch"));
}
