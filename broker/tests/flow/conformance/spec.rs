//! The CloudEvents spec (`cloudevents/spec.md`), version 1.0.

use serde_json::json;
use shared::testing::TestSink;

use super::*;

async fn refused_by_broker_and_function(headers: &[(&str, &[u8])]) {
    let rig = Rig::start().await;
    assert_eq!(rig.post(headers, &booking()).await.status, 400, "the broker");
    let (app, redis) = consumer().await;
    assert_eq!(to_function(&app, headers, &booking()).await, 400, "the function");
    assert_eq!(counted(&redis).await, 0);
}

/// id: "MUST be a non-empty string".
#[tokio::test]
async fn an_empty_id_is_refused() {
    refused_by_broker_and_function(&binary(&[("ce-id", b"")])).await;
}

/// source: "MUST be a non-empty URI-reference".
#[tokio::test]
async fn an_empty_source_is_refused() {
    refused_by_broker_and_function(&binary(&[("ce-source", b"")])).await;
}

/// type: "MUST be a non-empty string".
#[tokio::test]
async fn an_empty_type_is_refused() {
    refused_by_broker_and_function(&binary(&[("ce-type", b"")])).await;
}

/// "Every CloudEvent conforming to this specification MUST include context
/// attributes designated as REQUIRED": each of the four missing is refused.
#[tokio::test]
async fn a_missing_required_attribute_is_refused() {
    for missing in ["ce-id", "ce-source", "ce-type"] {
        let headers: Vec<_> = binary(&[]).into_iter().filter(|(name, _)| *name != missing).collect();
        let rig = Rig::start().await;
        assert_eq!(rig.post(&headers, &booking()).await.status, 400, "the broker without {missing}");
        let (app, _redis) = consumer().await;
        // A function reads ce-* headers without ce-specversion as a broken event, too.
        assert_eq!(to_function(&app, &headers, &booking()).await, 400, "the function without {missing}");
    }
}

/// subject: "If present, MUST be a non-empty string".
#[tokio::test]
async fn an_empty_subject_is_refused() {
    refused_by_broker_and_function(&binary(&[("ce-subject", b"")])).await;
}

/// dataschema: "If present, MUST be a non-empty URI".
#[tokio::test]
async fn a_dataschema_that_is_no_uri_is_refused() {
    refused_by_broker_and_function(&binary(&[("ce-dataschema", b"not a uri")])).await;
    let rig = Rig::start().await;
    let schema = b"https://skybook.example/schemas/booking.json";
    assert_eq!(rig.post(&binary(&[("ce-dataschema", schema)]), &booking()).await.status, 202);
    assert_eq!(rig.delivered().await.header("ce-dataschema").map(str::as_bytes), Some(&schema[..]));
}

/// "each type ... has a canonical string-encoding ... MUST be supported":
/// an integer and a boolean extension travel in headers as their canonical
/// strings.
#[tokio::test]
async fn typed_extensions_travel_as_their_canonical_strings() {
    let rig = Rig::start().await;
    let event = json!({"specversion": "1.0", "id": "typed", "source": "/c", "type": CREATED,
                       "seats": 5, "vip": true, "data": {}});
    let (headers, body) = structured(&event);
    assert_eq!(rig.post(&headers, &body).await.status, 202);
    let delivered = rig.delivered().await;
    assert_eq!(delivered.header("ce-seats"), Some("5"));
    assert_eq!(delivered.header("ce-vip"), Some("true"));
}

/// "The context attribute ... MUST only appear at most once in a CloudEvent."
#[tokio::test]
async fn an_attribute_given_twice_is_refused() {
    let mut headers = binary(&[]);
    headers.push(("ce-id", b"conformance-2"));
    refused_by_broker_and_function(&headers).await;
}

/// Attribute names "MUST consist of lower-case letters [a-z] or digits
/// [0-9]", and "MUST NOT use the name `data`".
#[tokio::test]
async fn attribute_names_are_lower_case_letters_and_digits_never_data() {
    let rig = Rig::start().await;
    let (app, _redis) = consumer().await;
    for name in ["Team", "te-am"] {
        let event = json!({"specversion": "1.0", "id": "n", "source": "/c", "type": CREATED, name: "x"});
        let (headers, body) = structured(&event);
        assert_eq!(rig.post(&headers, &body).await.status, 400, "the broker, {name}");
        assert_eq!(to_function(&app, &headers, &body).await, 400, "the function, {name}");
    }
    // In structured mode `data` is the data; in binary mode it would be an attribute.
    let headers = binary(&[("ce-data", b"x")]);
    assert_eq!(rig.post(&headers, &booking()).await.status, 400, "the broker, ce-data");
    assert_eq!(to_function(&app, &headers, &booking()).await, 400, "the function, ce-data");
}

/// specversion: "producers MUST use a value of `1.0`"; a consumer refuses
/// what it cannot read as 1.0.
#[tokio::test]
async fn what_is_sent_is_cloudevents_1_0_and_nothing_else_is_taken() {
    let rig = Rig::start().await;
    assert_eq!(rig.post(&binary(&[]), &booking()).await.status, 202);
    assert_eq!(rig.delivered().await.header("ce-specversion"), Some("1.0"));
    assert_eq!(rig.post(&binary(&[("ce-specversion", b"0.3")]), &booking()).await.status, 400);
    assert_eq!(rig.post(&binary(&[("ce-specversion", b"2.0")]), &booking()).await.status, 400);
}

/// time: "If present, MUST adhere to the format specified in RFC 3339".
#[tokio::test]
async fn a_time_that_is_not_rfc3339_is_refused_and_a_time_sent_is() {
    refused_by_broker_and_function(&binary(&[("ce-time", b"yesterday")])).await;
    let rig = Rig::start().await;
    assert_eq!(
        rig.post(&binary(&[("ce-time", b"2026-11-27T10:00:00.5+01:00")]), &booking()).await.status,
        202
    );
    let time = rig.delivered().await.header("ce-time").expect("the time").to_owned();
    chrono::DateTime::parse_from_rfc3339(&time).expect("RFC 3339");
}

/// "Intermediaries MUST forward events of a size of 64 KiB or less."
#[tokio::test]
async fn the_broker_forwards_an_event_of_64_kib() {
    let rig = Rig::start().await;
    let data = json!({"padding": "x".repeat(64 * 1024 - 200)}).to_string().into_bytes();
    assert_eq!(rig.post(&binary(&[]), &data).await.status, 202);
    assert_eq!(rig.delivered().await.body.len(), data.len());
}

/// datacontenttype: "the type part of the content type MUST be treated in a
/// case-insensitive manner".
#[tokio::test]
async fn a_content_type_in_any_case_is_the_same_content_type() {
    let (app, redis) = consumer().await;
    let headers = binary(&[("content-type", b"Application/JSON; Charset=UTF-8")]);
    assert_eq!(to_function(&app, &headers, &booking()).await, 202);
    assert_eq!(counted(&redis).await, 1);
}

/// id: "Producers MUST ensure that `source` + `id` is unique for each
/// distinct event"; subject: "If present, MUST be a non-empty string".
#[tokio::test]
async fn a_producer_gives_each_event_its_own_id_and_a_non_empty_subject() {
    let sink = TestSink::start().await;
    let world = crate::helpers::Bookings::start(&sink.url).await;
    world.book_twice().await;
    let events = sink.wait_for(2).await;
    let ids: std::collections::BTreeSet<_> =
        events.iter().map(|e| (e.header("ce-source"), e.header("ce-id"))).collect();
    assert_eq!(ids.len(), 2, "two events, two ids");
    for event in &events {
        assert!(!event.header("ce-subject").unwrap_or_default().is_empty());
        assert_eq!(event.header("ce-specversion"), Some("1.0"));
        chrono::DateTime::parse_from_rfc3339(event.header("ce-time").expect("a time")).expect("RFC 3339");
    }
}
