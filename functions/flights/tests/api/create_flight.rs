use serde_json::json;

use crate::helpers::{Fixture, in_days};

const CREATE: &str = "skybook.flight.create";

#[tokio::test]
async fn creates_a_flight_in_every_mode_and_replies_with_its_price() {
    let fx = Fixture::new().await;
    let cancun = fx.destination("Cancún", "50", true).await;

    let binary = fx
        .flights
        .binary(
            CREATE,
            "f1",
            &json!({"destination_id": cancun, "flight_number": "sk101", "base_price": "1000",
                    "departure_at": in_days(30), "capacity": 180}),
        )
        .await
        .expect(200);
    assert_eq!(binary.header("ce-type"), Some("skybook.flight.created"));
    assert_eq!(binary.header("ce-source"), Some("/skybook/flights"));
    let flight = binary.json();
    assert_eq!(binary.header("ce-subject"), flight["id"].as_str());
    assert_eq!(flight["flight_number"], "SK101");
    assert_eq!(flight["destination_name"], "Cancún");
    assert_eq!(flight["seats_left"], 180);
    assert_eq!(flight["price"]["total"], "950.00");

    fx.flights
        .structured(&json!({
            "specversion": "1.0", "id": "f2", "source": "/tests", "type": CREATE,
            "data": {"destination_id": cancun, "flight_number": "SK102", "base_price": 1000,
                     "departure_at": in_days(31), "capacity": 10}
        }))
        .await
        .expect(200);
    fx.flights
        .json(
            &json!({"destination_id": cancun, "flight_number": "SK103", "base_price": "1",
                    "departure_at": in_days(32), "capacity": 1}),
            Some("plain-1"),
        )
        .await
        .expect(200);
    assert_eq!(fx.flight_count().await, 3);
}

#[tokio::test]
async fn the_same_event_twice_creates_one_flight() {
    let fx = Fixture::new().await;
    let lima = fx.destination("Lima", "0", false).await;
    let data = json!({"destination_id": lima, "flight_number": "LA1", "base_price": "300",
                      "departure_at": in_days(3), "capacity": 5});
    let first = fx.flights.binary(CREATE, "same", &data).await.expect(200);
    let second = fx.flights.binary(CREATE, "same", &data).await.expect(200);
    assert_eq!(first.body, second.body);
    assert_eq!(fx.flight_count().await, 1);
    // One event for the read model, with the flight as its data.
    let events: Vec<(String, String, serde_json::Value)> =
        sqlx::query_as("SELECT type, subject, data FROM outbox").fetch_all(&fx.db.pool).await.unwrap();
    let id = first.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].0.as_str(), events[0].1.as_str()), ("skybook.flight.created", id.as_str()));
    assert_eq!(events[0].2, first.json());
}

#[tokio::test]
async fn refusals_say_why_and_write_nothing() {
    let fx = Fixture::new().await;
    let lima = fx.destination("Lima", "0", false).await;
    fx.flight(&lima, "LA1", "300", in_days(3)).await;
    let departure = in_days(3);
    let base = json!({"destination_id": lima, "flight_number": "LA2", "base_price": "300",
                      "departure_at": departure, "capacity": 5});
    let with = |key: &str, value: serde_json::Value| {
        let mut data = base.clone();
        data[key] = value;
        data
    };
    let cases = [
        (with("base_price", json!("0")), 422, "invalid_base_price"),
        (with("base_price", json!("-10")), 422, "invalid_base_price"),
        (with("base_price", json!("10.001")), 422, "invalid_base_price"),
        (with("capacity", json!(0)), 422, "invalid_capacity"),
        (with("flight_number", json!("LA-2")), 422, "invalid_flight_number"),
        (with("departure_at", json!("2001-01-01T00:00:00Z")), 422, "departure_in_past"),
        (with("destination_id", json!("0191d9d2-0000-7000-8000-000000000000")), 422, "unknown_destination"),
        (with("flight_number", json!("LA1")), 200, ""),
        (with("flight_number", json!("LA1")), 422, "flight_exists"),
        (with("destination_id", json!("not-a-uuid")), 400, "invalid_data"),
        (with("capacity", json!(1.5)), 400, "invalid_data"),
        (with("departure_at", json!("tomorrow")), 400, "invalid_data"),
    ];
    // LA1 at this departure does not exist yet (the fixture's LA1 departs
    // earlier), so the first LA1 here is accepted and the second refused.
    for (i, (data, status, code)) in cases.iter().enumerate() {
        let reply = fx.flights.binary(CREATE, &format!("c{i}"), data).await;
        assert_eq!(reply.status, *status, "{data}: {}", String::from_utf8_lossy(&reply.body));
        if *status != 200 {
            assert_eq!(&reply.error_code(), code, "{data}");
        }
    }
    assert_eq!(fx.flight_count().await, 2);
}
