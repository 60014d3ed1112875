use bookings::queries::{get_booking, list_bookings};
use serde_json::json;
use shared::testing::{ReadResponse, TestApp, TestDb, TestSink};

use crate::helpers::{World, ids};

#[tokio::test]
async fn get_and_list_bookings_by_flight_and_passenger() {
    let sink = TestSink::start().await;
    let w = World::new(&sink.url).await;
    let get = TestApp::spawn(get_booking::function(), &w.db).await;
    let list = TestApp::spawn(list_bookings::function(), &w.db).await;
    let lima = w.destination("Lima", "1", false, true).await;
    let f1 = w.flight(&lima, "100", 10).await;
    let f2 = w.flight(&lima, "200", 10).await;
    let mut on_f1 = Vec::new();
    for name in ["Ana", "Bea", "ana", "Carla", "Dora"] {
        on_f1.push(w.book(&f1, name, 30, false).await.expect(200).json()["id"].as_str().unwrap().to_owned());
    }
    w.book(&f2, "Ana", 30, false).await.expect(200);

    let found = get.json(&json!({"id": on_f1[0]}), None).await.expect(200);
    assert_eq!(found.header("ce-type"), Some("skybook.booking.found"));
    assert_eq!(found.json()["passenger_name"], "Ana");
    let missing = get.json(&json!({"id": "0191d9d2-0000-7000-8000-000000000000"}), None).await.expect(404);
    assert_eq!(missing.error_code(), "booking_not_found");

    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page =
            list.json(&json!({"flight_id": f1, "limit": 2, "cursor": cursor}), None).await.expect(200).json();
        paged.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, on_f1);

    let anas = list.json(&json!({"passenger_name": "ANA"}), None).await.expect(200).json();
    assert_eq!(ids(&anas).len(), 3);
    let ana_on_f1 =
        list.json(&json!({"passenger_name": "ana", "flight_id": f1}), None).await.expect(200).json();
    assert_eq!(ids(&ana_on_f1), [on_f1[0].clone(), on_f1[2].clone()]);
}

#[tokio::test]
async fn bookings_hold_personal_data_and_are_read_by_their_owner_agents_and_admins_only() {
    let db = TestDb::new().await;
    // A Redis of its own: failed sign-ins are counted per address there, and
    // every test calls from 127.0.0.1.
    let redis = shared::testing::TestRedis::new().await;
    let keys = "agent:agent-key-0123456789abcdef,operator:operator-key-0123456789abcdef";
    let settings =
        [("database_url", db.url()), ("redis_url", redis.url.clone()), ("auth_api_keys", keys.to_owned())];
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cases = [
        (get_booking::function(), json!({"id": "0191d9d2-0000-7000-8000-000000000000"}), 404),
        (list_bookings::function(), json!({}), 200),
    ];
    for (function, data, with_key) in cases {
        let app = TestApp::spawn_with(function, &settings).await;
        let request = || app.post().header("content-type", "application/json").body(data.to_string());
        assert_eq!(request().send().await.read().await.expect(401).error_code(), "unauthorized");
        request().bearer_auth("another-key-0123456789abcdef").send().await.read().await.expect(401);
        let operator = request().bearer_auth("operator-key-0123456789abcdef").send().await.read().await;
        assert_eq!(operator.expect(403).error_code(), "forbidden");
        request().bearer_auth("agent-key-0123456789abcdef").send().await.read().await.expect(with_key);
    }
}

#[tokio::test]
async fn by_get_a_booking_list_is_its_callers_alone_to_keep_and_needs_their_key_as_by_post() {
    let db = TestDb::new().await;
    let redis = shared::testing::TestRedis::new().await;
    let keys = "agent:agent-key-0123456789abcdef";
    let settings =
        [("database_url", db.url()), ("redis_url", redis.url.clone()), ("auth_api_keys", keys.to_owned())];
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(list_bookings::function(), &settings).await;
    let url = format!("{}/?limit=5", app.url);

    let anonymous = app.client.get(&url).send().await.read().await;
    assert_eq!(anonymous.expect(401).error_code(), "unauthorized");
    let listed = app.client.get(&url).bearer_auth("agent-key-0123456789abcdef").send().await.read().await;
    let listed = listed.expect(200);
    assert_eq!(listed.header("cache-control"), Some("private, no-cache"));
    assert!(listed.header("vary").is_some_and(|v| v.contains("authorization")), "{:?}", listed.headers);
    assert!(listed.header("etag").is_some());
}
