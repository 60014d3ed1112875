//! The CloudEvents JSON format (`cloudevents/formats/json-format.md`).

use base64::Engine;
use serde_json::json;

use super::*;

/// "Such a representation MUST use the media type `application/cloudevents+json`":
/// a structured event in it is read, by the broker and by a function.
#[tokio::test]
async fn structured_events_in_the_json_format_are_read() {
    let event = json!({"specversion": "1.0", "id": "j", "source": "/c", "type": CREATED,
                       "sequence": "0000000000000000001", "data": serde_json::from_slice::<serde_json::Value>(&booking()).unwrap()});
    let (headers, body) = structured(&event);
    let rig = Rig::start().await;
    assert_eq!(rig.post(&headers, &body).await.status, 202);
    let (app, redis) = consumer().await;
    assert_eq!(to_function(&app, &headers, &body).await, 202);
    assert_eq!(counted(&redis).await, 1);
}

/// "When a CloudEvents is deserialized from JSON, the presence of the
/// `data_base64` member clearly indicates that the value is a Base64
/// encoded binary data, which the deserializer MUST decode into a binary
/// runtime data type": delivered as those bytes.
#[tokio::test]
async fn data_base64_is_delivered_as_its_bytes() {
    let bytes = [0u8, 159, 146, 150, 255];
    let event = json!({"specversion": "1.0", "id": "b64", "source": "/c", "type": CREATED,
                       "datacontenttype": "application/octet-stream",
                       "data_base64": base64::engine::general_purpose::STANDARD.encode(bytes)});
    let (headers, body) = structured(&event);
    let rig = Rig::start().await;
    assert_eq!(rig.post(&headers, &body).await.status, 202);
    assert_eq!(&rig.delivered().await.body[..], bytes);
}

/// "If the `datacontenttype` is ... JSON, then the `data` member MUST be
/// treated directly as a JSON value": delivered as that JSON, not as a
/// string holding it.
#[tokio::test]
async fn json_data_is_delivered_as_json() {
    let event = json!({"specversion": "1.0", "id": "jd", "source": "/c", "type": CREATED,
                       "datacontenttype": "application/json", "data": {"a": [1, 2]}});
    let (headers, body) = structured(&event);
    let rig = Rig::start().await;
    assert_eq!(rig.post(&headers, &body).await.status, 202);
    let delivered = rig.delivered().await;
    assert_eq!(delivered.json(), json!({"a": [1, 2]}));
}

/// "If an attribute ... is encountered with a `null` value, it MUST be
/// treated as the equivalent of being absent"; "Extensions MUST be
/// serialized as a top-level JSON property", numbers as JSON numbers.
#[tokio::test]
async fn null_is_absent_and_extensions_are_top_level_and_typed() {
    let event = json!({"specversion": "1.0", "id": "n", "source": "/c", "type": CREATED, "subject": null,
                       "seats": 5, "datacontenttype": "text/plaïn", "data": "x"});
    let (headers, body) = structured(&event);
    let rig = Rig::start().await;
    assert_eq!(rig.post(&headers, &body).await.status, 202);
    // A content type no header can carry: delivered in structured mode.
    let delivered = rig.delivered().await;
    let payload: serde_json::Value = serde_json::from_slice(&delivered.body).unwrap();
    assert!(payload.get("subject").is_none(), "{payload}");
    assert_eq!(payload["seats"], json!(5));
}
