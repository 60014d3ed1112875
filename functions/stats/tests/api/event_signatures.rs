//! Event signatures: a consumer applies an event only when one of this
//! deployment's functions signed it. The events here are the ones the real
//! create-booking emitted, signed as it sends them; each one that should not
//! pass is refused with 403 and changes nothing.

use serde_json::json;
use shared::cloudevent::signature::{EventKeys, Signed};
use shared::config::Settings;
use shared::testing::{ReadResponse, Received, TestApp};
use stats::consumers::record_booking_stats;

use crate::helpers::{EVENT_KEY, World};

/// Delivers `event` as the Broker would, with its headers changed by `edit`
/// and its body replaced by `body` when given.
async fn deliver(
    consumer: &TestApp,
    event: &Received,
    edit: impl FnOnce(&mut http::HeaderMap),
    body: Option<String>,
) -> (u16, String) {
    let mut headers = http::HeaderMap::new();
    for (name, value) in &event.headers {
        if name.as_str().starts_with("ce-") || name == "content-type" {
            headers.insert(name, value.clone());
        }
    }
    edit(&mut headers);
    let body = body.map(Into::into).unwrap_or_else(|| event.body.clone());
    let response = consumer.post().headers(headers).body(body).send().await.read().await;
    let code = if response.body.is_empty() { String::new() } else { response.error_code() };
    (response.status, code)
}

fn keys(key: &str) -> EventKeys {
    let settings = Settings::with_overrides(&[("event_signing_keys", key)]).unwrap();
    EventKeys::from_settings(&settings).unwrap().unwrap()
}

#[tokio::test]
async fn only_an_event_this_deployment_signed_is_applied() {
    let (world, event) = World::booked("Arequipa", "SG1").await;
    assert!(event.header("ce-skybooksig").is_some_and(|s| s.starts_with("v1=")), "signed as sent");

    // A booking of 0.01 under the same attributes: what a forger would send.
    let mut forged: serde_json::Value = serde_json::from_slice(&event.body).unwrap();
    forged["total_price"] = json!("0.01");
    let forged = forged.to_string();
    let header = |name: &str| event.header(name).unwrap().to_owned();
    let stranger = keys("another-deployments-key-0123456789abcdef").sign(Signed {
        id: &header("ce-id"),
        source: &header("ce-source"),
        ty: &header("ce-type"),
        subject: event.header("ce-subject"),
        sequence: event.header("ce-sequence"),
        data: &event.body,
    });

    let refused: Vec<(&str, (u16, String))> = vec![
        ("unsigned", deliver(&world.record, &event, |h| drop(h.remove("ce-skybooksig")), None).await),
        ("data changed", deliver(&world.record, &event, |_| {}, Some(forged)).await),
        (
            "another id",
            deliver(&world.record, &event, |h| drop(h.insert("ce-id", "forged-1".parse().unwrap())), None)
                .await,
        ),
        (
            // Replayed under a fresh place in the stream, to be counted again.
            "another sequence",
            deliver(
                &world.record,
                &event,
                |h| drop(h.insert("ce-sequence", "0000000000000999999".parse().unwrap())),
                None,
            )
            .await,
        ),
        (
            "another deployment's key",
            deliver(
                &world.record,
                &event,
                |h| drop(h.insert("ce-skybooksig", stranger.parse().unwrap())),
                None,
            )
            .await,
        ),
        (
            "not a signature",
            deliver(
                &world.record,
                &event,
                |h| drop(h.insert("ce-skybooksig", "v1=00".parse().unwrap())),
                None,
            )
            .await,
        ),
    ];
    for (what, answer) in refused {
        assert_eq!(answer, (403, "event_not_signed".to_owned()), "{what}");
        assert_eq!(world.stats().await["total_bookings"], 0, "{what}: nothing applied");
    }

    assert_eq!(deliver(&world.record, &event, |_| {}, None).await.0, 202, "as signed");
    assert_eq!(world.stats().await["total_bookings"], 1);
}

#[tokio::test]
async fn a_key_being_rotated_in_still_verifies_events_signed_with_the_old_one() {
    let (world, event) = World::booked("Tacna", "SG2").await;
    let rotating = TestApp::spawn_with(
        record_booking_stats::function(),
        &[
            ("redis_url", world.redis.url.as_str()),
            ("event_signing_keys", &format!("a-new-key-being-rolled-out-0123456789,{EVENT_KEY}")),
        ],
    )
    .await;
    assert_eq!(deliver(&rotating, &event, |_| {}, None).await.0, 202);
    assert_eq!(world.stats().await["total_bookings"], 1);
}

#[tokio::test]
async fn a_tick_needs_no_signature() {
    // reconcile-stats checks signatures, and a PingSource's tick carries none.
    let world = World::new().await;
    world.reconcile.binary(shared::cloudevent::PING, "tick-1", &json!({})).await.expect(202);
}

#[tokio::test]
async fn a_consumer_without_a_way_to_know_its_senders_does_not_start() {
    let settings =
        Settings::with_overrides(&[("port", "0"), ("redis_url", "redis://127.0.0.1:1")]).expect("settings");
    let refused = shared::server::Server::bind(record_booking_stats::function(), settings).await.err();
    let line = refused.expect("refused to start");
    assert!(line.contains("EVENT_SIGNING_KEYS") && line.contains("record-booking-stats"), "{line}");
}
