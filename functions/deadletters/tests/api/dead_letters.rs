use base64::Engine;
use deadletters::commands::replay_dead_letters;
use deadletters::consumers::store_dead_letter;
use deadletters::queries::list_dead_letters;
use serde_json::{Value, json};
use shared::testing::{ReadResponse, TestApp, TestDb, TestSink};

/// A booking event as the broker dead-letters it: Knative's three error
/// extensions on top of the event as its producer sent it.
async fn dead_letter(app: &TestApp, id: &str, code: &str, answer: &str) -> u16 {
    app.post()
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/skybook/bookings")
        .header("ce-type", "skybook.booking.created")
        .header("ce-subject", "b-1")
        .header("ce-time", "2026-11-27T10:00:00Z")
        .header("ce-team", "reservas")
        .header("ce-knativeerrordest", "http://record-booking-stats.skybook.svc.cluster.local")
        .header("ce-knativeerrorcode", code)
        .header("ce-knativeerrordata", base64::engine::general_purpose::STANDARD.encode(answer))
        .header("content-type", "application/json")
        .body(json!({"id": "b-1", "passenger_name": "Ana"}).to_string())
        .send()
        .await
        .read()
        .await
        .status
}

struct Apps {
    db: TestDb,
    store: TestApp,
    list: TestApp,
    sink: TestSink,
    replay: TestApp,
}

async fn apps() -> Apps {
    let db = TestDb::new().await;
    let sink = TestSink::start().await;
    let url = db.url();
    Apps {
        store: TestApp::spawn(store_dead_letter::function(), &db).await,
        list: TestApp::spawn(list_dead_letters::function(), &db).await,
        replay: TestApp::spawn_with(
            replay_dead_letters::function(),
            &[("database_url", url.as_str()), ("k_sink", sink.url.as_str())],
        )
        .await,
        db,
        sink,
    }
}

async fn pending(apps: &Apps) -> Vec<Value> {
    let page = apps.list.json(&json!({}), None).await.expect(200).json();
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn each_dead_letter_is_kept_once_with_the_reason_and_the_event_as_it_was() {
    let apps = apps().await;
    assert_eq!(dead_letter(&apps.store, "e-1", "503", "redis down").await, 202);
    assert_eq!(dead_letter(&apps.store, "e-1", "500", "still down").await, 202);
    assert_eq!(dead_letter(&apps.store, "e-2", "400", "bad").await, 202);

    let letters = pending(&apps).await;
    assert_eq!(letters.len(), 2, "one row per event and subscriber");
    let first = &letters[0];
    assert_eq!(first["event_id"], "e-1");
    assert_eq!(first["deliveries"], 2);
    assert_eq!(first["error_code"], 500);
    assert_eq!(first["error_data"], "still down");
    assert_eq!(first["error_dest"], "http://record-booking-stats.skybook.svc.cluster.local");
    let event = &first["event"];
    assert_eq!(event["type"], "skybook.booking.created");
    assert_eq!(event["subject"], "b-1");
    assert_eq!(event["team"], "reservas", "the producer's extensions stay");
    assert_eq!(event["data"], json!({"id": "b-1", "passenger_name": "Ana"}));
    assert!(event.get("knativeerrorcode").is_none(), "the broker's extensions go: {event}");

    // A dead-letter sink takes CloudEvents only.
    let plain = apps.store.json(&json!({"x": 1}), None).await.expect(400);
    assert_eq!(plain.error_code(), "invalid_cloudevent");
    let by_type = apps.list.json(&json!({"type": "skybook.other"}), None).await.expect(200).json();
    assert_eq!(by_type["items"], json!([]));
}

#[tokio::test]
async fn a_replay_sends_the_event_back_as_it_was_and_records_the_outcome() {
    let apps = apps().await;
    dead_letter(&apps.store, "e-1", "503", "down").await;
    dead_letter(&apps.store, "e-2", "503", "down").await;
    let letters = pending(&apps).await;

    // The broker is failing: nothing is lost, the error is recorded.
    apps.sink.answer(503);
    let report = apps.replay.json(&json!({"all": true}), None).await.expect(200).json();
    assert_eq!((report["replayed"].as_u64(), report["failed"].as_u64()), (Some(0), Some(2)));
    let still = pending(&apps).await;
    assert_eq!(still.len(), 2);
    assert_eq!(still[0]["replay_attempts"], 1);
    assert!(still[0]["last_replay_error"].as_str().unwrap().contains("503"));

    // One by id, then the rest by type.
    apps.sink.answer(202);
    let one = apps.replay.json(&json!({"ids": [letters[0]["id"]]}), None).await.expect(200).json();
    // `remaining` is what is left of the selection (the one id), not of the store.
    assert_eq!((one["replayed"].as_u64(), one["remaining"].as_i64()), (Some(1), Some(0)));
    let received = apps.sink.wait_for(1).await;
    let event = received[0].cloudevent();
    use shared::testing::cloudevents::AttributesReader;
    assert_eq!(event.id(), "e-1");
    assert_eq!(event.ty(), "skybook.booking.created");
    assert_eq!(event.source().to_string(), "/skybook/bookings");
    assert!(event.extension("knativeerrorcode").is_none());
    let rest = apps.replay.json(&json!({"type": "skybook.booking.created"}), None).await.expect(200).json();
    assert_eq!((rest["replayed"].as_u64(), rest["remaining"].as_i64()), (Some(1), Some(0)));
    assert!(pending(&apps).await.is_empty());
    let replayed = apps.list.json(&json!({"status": "replayed"}), None).await.expect(200).json();
    assert_eq!(replayed["items"].as_array().unwrap().len(), 2);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters WHERE replayed_at IS NOT NULL")
        .fetch_one(&apps.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 2);
}

#[tokio::test]
async fn a_replay_names_exactly_what_it_replays() {
    let apps = apps().await;
    for bad in [json!({}), json!({"all": true, "type": "x"}), json!({"ids": []}), json!({"type": " "})] {
        let refused = apps.replay.json(&bad, None).await.expect(400);
        assert_eq!(refused.error_code(), "invalid_data", "{bad}");
    }
}

#[tokio::test]
async fn a_replay_signs_the_event_with_the_keys_in_use_today() {
    use shared::cloudevent::signature::{EventKeys, Signed};
    const OLD: &str = "the-key-being-retired-0123456789abcdef";
    const NEW: &str = "the-key-in-use-today-0123456789abcdefgh";
    let keys = |list: &str| {
        let settings = shared::config::Settings::with_overrides(&[("event_signing_keys", list)]).unwrap();
        EventKeys::from_settings(&settings).unwrap().unwrap()
    };
    let db = TestDb::new().await;
    let sink = TestSink::start().await;
    let url = db.url();
    let store = TestApp::spawn_with(
        store_dead_letter::function(),
        &[("database_url", url.as_str()), ("event_signing_keys", &format!("{NEW},{OLD}"))],
    )
    .await;
    let replay = TestApp::spawn_with(
        replay_dead_letters::function(),
        &[("database_url", url.as_str()), ("k_sink", sink.url.as_str()), ("event_signing_keys", NEW)],
    )
    .await;

    // The dead-letter sink checks signatures as every consumer does.
    assert_eq!(dead_letter(&store, "e-1", "503", "down").await, 403, "unsigned");
    let data = json!({"id": "b-1", "passenger_name": "Ana"}).to_string();
    let signed = |id: &'static str| Signed {
        id,
        source: "/skybook/bookings",
        ty: "skybook.booking.created",
        subject: Some("b-1"),
        sequence: None,
        data: data.as_bytes(),
    };
    let stored = store
        .post()
        .header("ce-specversion", "1.0")
        .header("ce-id", "e-2")
        .header("ce-source", "/skybook/bookings")
        .header("ce-type", "skybook.booking.created")
        .header("ce-subject", "b-1")
        .header("ce-skybooksig", keys(OLD).sign(signed("e-2")))
        .header("ce-knativeerrorcode", "503")
        .header("content-type", "application/json")
        .body(data.clone())
        .send()
        .await
        .read()
        .await;
    assert_eq!(stored.status, 202, "signed with a key still listed");

    replay.json(&json!({"all": true}), None).await.expect(200);
    let received = sink.wait_for(1).await;
    let event: Value = serde_json::from_slice(&received[0].body).unwrap();
    let signature = event["skybooksig"].as_str().expect("signed");
    keys(NEW).verify(signed("e-2"), Some(signature)).expect("by today's key");
    assert!(keys(OLD).verify(signed("e-2"), Some(signature)).is_err(), "not the retired one");
}

/// Five `all` replays at once, against a broker that takes 300 ms an event:
/// every letter is sent once (each replay leases what it claims until it has
/// recorded it), and none of them waits on the pool, as no transaction is
/// held while a letter is on its way (a pool of 2 for five replays).
#[tokio::test]
async fn concurrent_replays_send_each_letter_once_and_do_not_starve_the_pool() {
    let db = TestDb::new().await;
    let sink = TestSink::start().await;
    let store = TestApp::spawn(store_dead_letter::function(), &db).await;
    let url = db.url();
    let replay = TestApp::spawn_with(
        replay_dead_letters::function(),
        &[
            ("database_url", url.as_str()),
            ("k_sink", sink.url.as_str()),
            ("db_pool_size", "2"),
            ("db_acquire_timeout_ms", "1000"),
        ],
    )
    .await;
    for i in 0..24 {
        assert_eq!(dead_letter(&store, &format!("e-{i}"), "503", "down").await, 202);
    }
    sink.delay(std::time::Duration::from_millis(300));

    let all = json!({"all": true});
    let replays = (0..5).map(|_| replay.json(&all, None));
    let reports: Vec<Value> =
        futures_util::future::join_all(replays).await.into_iter().map(|r| r.expect(200).json()).collect();
    let each: Vec<u64> = reports.iter().map(|r| r["replayed"].as_u64().unwrap()).collect();
    assert_eq!(each.iter().sum::<u64>(), 24, "replayed by each of the five: {each:?}");
    let received = sink.wait_for(24).await;
    let ids: std::collections::BTreeSet<String> =
        received.iter().map(|e| e.json()["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!((received.len(), ids.len()), (24, 24), "each letter sent once");
    let leased: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters WHERE leased_until IS NOT NULL")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(leased, 0, "every lease ends with its outcome recorded");
}
