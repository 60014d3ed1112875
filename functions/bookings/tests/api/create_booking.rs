use std::collections::BTreeMap;

use serde_json::json;
use shared::testing::{ReadResponse, TestApp, TestSink};

use crate::helpers::{CREATE, World};

#[tokio::test]
async fn the_seed_example_stores_its_breakdown() {
    let sink = TestSink::start().await;
    let w = World::new(&sink.url).await;
    let cancun = w.destination("Cancún", "50", true, true).await;
    let flight = w.flight(&cancun, "1000", 10).await;

    let reply = w.book(&flight, "Ana", 34, false).await.expect(200);

    assert_eq!(reply.header("ce-type"), Some("skybook.booking.created"));
    assert_eq!(reply.header("ce-source"), Some("/skybook/bookings"));
    let booking = reply.json();
    assert_eq!(reply.header("ce-subject"), booking["id"].as_str());
    assert_eq!(
        booking["price"],
        json!({"base_price": "1000.00", "discount": "100.00", "tax": "50.00", "total": "950.00"})
    );
    assert_eq!(booking["status"], "confirmed");
    assert_eq!(booking["destination_name"], "Cancún");
    let stored: (String, String, String, String) = sqlx::query_as(
        "SELECT base_price::text, discount::text, tax::text, total::text FROM bookings WHERE id = $1::uuid",
    )
    .bind(booking["id"].as_str())
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(stored, ("1000.00".into(), "100.00".into(), "50.00".into(), "950.00".into()));
    assert_eq!(w.seats_taken(&flight).await, 1);
    // The time the reply and the event carry is the row's own.
    let created_at: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT created_at FROM bookings WHERE id = $1::uuid")
            .bind(booking["id"].as_str())
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    assert_eq!(booking["created_at"], json!(created_at));
}

#[tokio::test]
async fn a_stale_quote_books_at_the_price_and_terms_of_now() {
    let sink = TestSink::start().await;
    let w = World::new(&sink.url).await;
    let cancun = w.destination("Cancún", "50", true, false).await;
    let flight = w.flight(&cancun, "1000", 10).await;
    // The read model still quotes 950.00 with no pets: the destination
    // changed since, and its event has not reached the model.
    sqlx::query("UPDATE destinations SET tax_amount = 60, is_promotion = false, allows_pets = true")
        .execute(&w.db.pool)
        .await
        .unwrap();

    let booking = w.book(&flight, "Ana", 34, true).await.expect(200).json();
    assert_eq!(
        booking["price"],
        json!({"base_price": "1000.00", "discount": "0.00", "tax": "60.00", "total": "1060.00"})
    );
    let total: String = sqlx::query_scalar("SELECT total::text FROM bookings WHERE id = $1::uuid")
        .bind(booking["id"].as_str())
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(total, "1060.00");

    // A flight moved to another time is booked at its new departure.
    sqlx::query("UPDATE flights SET departure_at = departure_at + interval '1 day' WHERE id = $1::uuid")
        .bind(&flight)
        .execute(&w.db.pool)
        .await
        .unwrap();
    let moved = w.book(&flight, "Bea", 34, false).await.expect(200).json();
    assert_ne!(moved["departure_at"], booking["departure_at"]);
    let departure: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT departure_at FROM flights WHERE id = $1::uuid")
            .bind(&flight)
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    assert_eq!(moved["departure_at"], json!(departure));
    assert_eq!(w.seats_taken(&flight).await, 2);
}

#[tokio::test]
async fn no_promotion_is_base_plus_tax_and_rounding_is_half_away_from_zero() {
    let sink = TestSink::start().await;
    let w = World::new(&sink.url).await;
    let plain = w.destination("Lima", "12.34", false, false).await;
    let promo = w.destination("Cusco", "0", true, false).await;
    let full = w.flight(&plain, "500.5", 5).await;
    let rounding = w.flight(&promo, "100.05", 5).await;

    let a = w.book(&full, "Ana", 30, false).await.expect(200).json();
    assert_eq!(a["price"]["total"], "512.84");
    assert_eq!(a["price"]["discount"], "0.00");
    // 100.05 * 0.90 = 90.045 -> 90.05, where half-to-even would give 90.04.
    let b = w.book(&rounding, "Bea", 30, false).await.expect(200).json();
    assert_eq!(b["price"]["total"], "90.05");
    assert_eq!(b["price"]["discount"], "10.00");
}

#[tokio::test]
async fn refusals_carry_a_clear_code_and_write_nothing() {
    let sink = TestSink::start().await;
    let w = World::new(&sink.url).await;
    let no_pets = w.destination("Bogotá", "1", false, false).await;
    let flight = w.flight(&no_pets, "100", 5).await;

    let pet = w.book(&flight, "Ana", 30, true).await.expect(422);
    assert_eq!(pet.error_code(), "pets_not_allowed");
    assert_eq!(pet.json()["error"]["message"], "El destino Bogotá no acepta mascotas");

    let cases = [
        (json!(-1), 422, "invalid_passenger_age"),
        (json!(151), 422, "invalid_passenger_age"),
        (json!(12.5), 400, "invalid_data"),
        (json!("ten"), 400, "invalid_data"),
        (json!(null), 400, "invalid_data"),
    ];
    for (age, status, code) in cases {
        let data = json!({"flight_id": flight, "passenger_name": "Ana", "passenger_age": age});
        let reply = w.book.json(&data, None).await;
        assert_eq!(reply.status, status, "age {age}");
        assert_eq!(reply.error_code(), code, "age {age}");
    }
    let empty_name = w.book(&flight, "  ", 30, false).await.expect(422);
    assert_eq!(empty_name.error_code(), "invalid_passenger_name");
    let unknown = w.book("0191d9d2-0000-7000-8000-000000000000", "Ana", 30, false).await.expect(422);
    assert_eq!(unknown.error_code(), "unknown_flight");

    assert_eq!(w.count("bookings").await, 0);
    assert_eq!(w.count("outbox").await, 0);
    assert_eq!(w.count("idempotency").await, 0);
    assert_eq!(w.seats_taken(&flight).await, 0);
    assert!(sink.received().is_empty());

    // The bounds themselves are fine ages.
    w.book(&flight, "Newborn", 0, false).await.expect(200);
    w.book(&flight, "Elder", 150, false).await.expect(200);
}

#[tokio::test]
async fn a_departed_flight_takes_no_bookings() {
    let sink = TestSink::start().await;
    let w = World::new(&sink.url).await;
    let lima = w.destination("Lima", "1", false, true).await;
    let flight = w.flight(&lima, "100", 5).await;
    sqlx::query("UPDATE flights SET departure_at = now() - interval '1 hour' WHERE id = $1::uuid")
        .bind(&flight)
        .execute(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(w.book(&flight, "Ana", 30, false).await.expect(422).error_code(), "flight_departed");
}

#[tokio::test]
async fn two_hundred_concurrent_bookings_fill_fifty_seats_exactly() {
    fill_fifty_seats(true).await;
}

#[tokio::test]
async fn two_hundred_concurrent_bookings_fill_fifty_seats_exactly_under_the_lock() {
    fill_fifty_seats(false).await;
}

/// 200 bookings at once for 50 seats: in one statement each (the read model
/// quoting 50 seats left throughout), or each under the flight's lock.
async fn fill_fifty_seats(quoted: bool) {
    let sink = TestSink::start().await;
    let w = World::new(&sink.url).await;
    let lima = w.destination("Lima", "1", false, true).await;
    let flight =
        if quoted { w.flight(&lima, "100", 50).await } else { w.unquoted_flight(&lima, "100", 50).await };

    let mut tasks = Vec::new();
    for i in 0..200 {
        let (client, url, flight) = (w.book.client.clone(), w.book.url.clone(), flight.clone());
        tasks.push(tokio::spawn(async move {
            let data = json!({"flight_id": flight, "passenger_name": format!("P{i}"), "passenger_age": 30});
            client.post(url).json(&data).send().await.read().await
        }));
    }
    let mut by_outcome: BTreeMap<(u16, String), usize> = BTreeMap::new();
    for task in tasks {
        let reply = task.await.unwrap();
        let code = if reply.status == 200 { String::new() } else { reply.error_code() };
        *by_outcome.entry((reply.status, code)).or_default() += 1;
    }
    let expected = BTreeMap::from([((200, String::new()), 50), ((422, "sold_out".to_owned()), 150)]);
    assert_eq!(by_outcome, expected);
    assert_eq!(w.seats_taken(&flight).await, 50);
    let confirmed: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings WHERE status = 'confirmed'")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(confirmed, 50);

    // A cancellation frees a seat; the next booking takes it.
    let any: String =
        sqlx::query_scalar("SELECT id::text FROM bookings LIMIT 1").fetch_one(&w.db.pool).await.unwrap();
    w.cancel.json(&json!({"id": any}), None).await.expect(200);
    assert_eq!(w.seats_taken(&flight).await, 49);
    w.book(&flight, "Late", 40, false).await.expect(200);
    assert_eq!(w.book(&flight, "Later", 40, false).await.expect(422).error_code(), "sold_out");
    assert_eq!(w.seats_taken(&flight).await, 50);
}

#[tokio::test]
async fn one_command_delivered_five_times_at_once_books_once() {
    let sink = TestSink::start().await;
    let w = World::new(&sink.url).await;
    let lima = w.destination("Lima", "1", false, true).await;
    let flight = w.flight(&lima, "100", 50).await;
    let data = json!({"flight_id": flight, "passenger_name": "Ana", "passenger_age": 30});

    let mut tasks = Vec::new();
    for _ in 0..5 {
        let (client, url, data) = (w.book.client.clone(), w.book.url.clone(), data.clone());
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .header("ce-specversion", "1.0")
                .header("ce-id", "booking-cmd-1")
                .header("ce-source", "/web")
                .header("ce-type", CREATE)
                .json(&data)
                .send()
                .await
                .read()
                .await
        }));
    }
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap().expect(200));
    }
    for reply in &replies[1..] {
        assert_eq!(reply.body, replies[0].body);
        assert_eq!(reply.header("ce-id"), replies[0].header("ce-id"));
        assert_eq!(reply.header("ce-time"), replies[0].header("ce-time"));
    }
    assert_eq!(w.count("bookings").await, 1);
    assert_eq!(w.seats_taken(&flight).await, 1);
    assert_eq!(w.count("outbox").await, 1);
    assert_eq!(sink.wait_for(1).await.len(), 1);
    // Nothing more comes: one event for one booking, however often it was asked for.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn a_booking_is_one_round_trip_at_a_quote_and_six_without() {
    // What a booking's throughput and CPU rest on (the README's benchmark,
    // pgbench's scripts the same), each with its idempotency key. At a
    // quote: the one statement that takes the seat, records the booking and
    // stores the event and the reply with the key. Without one: BEGIN with
    // its statement timeout, the key's claim, the flight's lock, the booking
    // with its seat, the outbox row with the reply, COMMIT. Nothing else: a
    // connection goes back to the process's pool with no round trip. One
    // connection, its statements prepared by the first booking of each kind
    // (a new connection prepares each once more); no sink, so nothing marks
    // events sent.
    let w = World::new("").await;
    let Some(_) = w.db.pooler_count("total_query_count") else { return };
    let url = w.db.url();
    let settings = [("database_url", url.as_str()), ("db_pool_size", "1"), ("redis_url", &w.redis.url)];
    let book = TestApp::spawn_with(bookings::commands::create_booking::function(), &settings).await;
    let lima = w.destination("Lima", "1", false, true).await;
    let quoted = w.flight(&lima, "100", 50).await;
    let unquoted = w.unquoted_flight(&lima, "100", 50).await;
    let booking =
        |flight: &str, name: &str| json!({"flight_id": flight, "passenger_name": name, "passenger_age": 30});
    let key = || uuid::Uuid::new_v4().to_string();
    for flight in [&quoted, &unquoted] {
        book.json(&booking(flight, "First"), Some(&key())).await.expect(200);
    }

    for (flight, round_trips) in [(&quoted, 1), (&unquoted, 6)] {
        let before = w.db.pooler_count("total_query_count").unwrap_or_default();
        for i in 0..10 {
            book.json(&booking(flight, &format!("P{i}")), Some(&key())).await.expect(200);
        }
        let queries = w.db.pooler_count("total_query_count").unwrap_or_default() - before;
        assert_eq!(queries, 10 * round_trips, "round trips for 10 bookings of flight {flight}");
    }
    assert_eq!(w.seats_taken(&quoted).await, 11);
    assert_eq!(w.seats_taken(&unquoted).await, 11);
}
