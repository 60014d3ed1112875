use serde_json::json;
use shared::testing::{TestApp, TestDb, TestRedis, TestSink};
use stats::consumers::record_booking_stats;
use stats::queries::get_stats;

/// Books through the real functions, hands the events they published to the
/// stats consumer, and reads the result back through get-stats.
#[tokio::test]
async fn stats_of_real_bookings_read_back_exactly() {
    let db = TestDb::new().await;
    let redis = TestRedis::new().await;
    let sink = TestSink::start().await;
    let url = db.url();
    let with_sink = [("database_url", url.as_str()), ("k_sink", sink.url.as_str())];
    let destinations = TestApp::spawn(destinations::commands::create_destination::function(), &db).await;
    let flights = TestApp::spawn(flights::commands::create_flight::function(), &db).await;
    let book = TestApp::spawn_with(bookings::commands::create_booking::function(), &with_sink).await;
    let cancel = TestApp::spawn_with(bookings::commands::cancel_booking::function(), &with_sink).await;
    let record = TestApp::spawn_with(record_booking_stats::function(), &[("redis_url", &redis.url)]).await;
    let stats = TestApp::spawn_with(get_stats::function(), &[("redis_url", &redis.url)]).await;

    let mut flight_to = std::collections::HashMap::new();
    let mut d_ids = std::collections::HashMap::new();
    for (name, tax, promo) in [("Cancún", "50", true), ("Lima", "10", false)] {
        let d = destinations
            .json(&json!({"name": name, "tax_amount": tax, "is_promotion": promo, "allows_pets": true}), None)
            .await
            .expect(200)
            .json();
        let f = flights
            .json(
                &json!({"destination_id": d["id"], "flight_number": format!("F{}", flight_to.len() + 1),
                        "base_price": "1000", "departure_at": "2099-01-01T00:00:00Z", "capacity": 10}),
                None,
            )
            .await
            .expect(200)
            .json();
        flight_to.insert(name, f["id"].as_str().unwrap().to_owned());
        d_ids.insert(name, d["id"].clone());
    }
    let mut booking_ids = Vec::new();
    for (to, name, age, pet) in
        [("Cancún", "Ana", 34, true), ("Cancún", "Nino", 8, false), ("Lima", "Eva", 70, false)]
    {
        let data =
            json!({"flight_id": flight_to[to], "passenger_name": name, "passenger_age": age, "has_pet": pet});
        booking_ids.push(book.json(&data, None).await.expect(200).json()["id"].as_str().unwrap().to_owned());
    }
    cancel.json(&json!({"id": booking_ids[2]}), None).await.expect(200);

    for event in sink.wait_for(4).await {
        let mut request = record.post().body(event.body.clone());
        for (name, value) in &event.headers {
            if name.as_str().starts_with("ce-") || name == "content-type" {
                request = request.header(name, value);
            }
        }
        let status = shared::testing::ReadResponse::read(request.send().await).await.status;
        assert_eq!(status, 202);
    }

    let reply = stats.json(&json!({}), None).await.expect(200);
    assert_eq!(reply.header("ce-type"), Some("skybook.stats.found"));
    let s = reply.json();
    assert_eq!(s["total_revenue"], "1900.00");
    assert_eq!(s["total_bookings"], 2);
    assert_eq!(s["pet_bookings"], 1);
    assert_eq!(s["total_candy_cost"], "5.00");
    assert_eq!(s["passengers_under_12"], 1);
    assert_eq!(
        s["destinations"],
        json!([{"id": d_ids["Cancún"], "name": "Cancún", "bookings": 2, "revenue": "1900.00"}])
    );
    assert_eq!(s["candy_log"], json!([format!("Reserva {}: Dulce entregado a Nino", booking_ids[1])]));

    let bad = stats.json(&json!({"destinations": 0}), None).await.expect(400);
    assert_eq!(bad.error_code(), "invalid_data");
}

/// A stats key holding what no stats write (a number's key set to text, the
/// ranking's key to a string) is a 503 until reconcile-stats rebuilds it: try
/// again, with the reason; not a 500.
#[tokio::test]
async fn stats_keys_holding_junk_are_a_503_to_try_again_not_a_500() {
    let redis = TestRedis::new().await;
    let stats = TestApp::spawn_with(get_stats::function(), &[("redis_url", &redis.url)]).await;
    let mut conn = redis.conn().await;
    let _: () =
        redis::cmd("SET").arg(stats::keys::TOTAL_BOOKINGS).arg("junk").query_async(&mut conn).await.unwrap();
    let refused = stats.json(&json!({}), None).await.expect(503);
    assert_eq!(refused.error_code(), "stats_unreadable");

    let _: () =
        redis::cmd("SET").arg(stats::keys::TOTAL_BOOKINGS).arg(3).query_async(&mut conn).await.unwrap();
    let _: () =
        redis::cmd("SET").arg(stats::keys::POPULARITY).arg("junk").query_async(&mut conn).await.unwrap();
    let refused = stats.json(&json!({}), None).await.expect(503);
    assert_eq!(refused.error_code(), "stats_unreadable");

    let _: () = redis::cmd("DEL").arg(stats::keys::POPULARITY).query_async(&mut conn).await.unwrap();
    assert_eq!(stats.json(&json!({}), None).await.expect(200).json()["total_bookings"], 3);
}

#[tokio::test]
async fn destinations_come_most_booked_first_and_an_empty_store_reads_zero() {
    let redis = TestRedis::new().await;
    let stats = TestApp::spawn_with(get_stats::function(), &[("redis_url", &redis.url)]).await;
    let empty = stats.json(&json!({}), None).await.expect(200).json();
    assert_eq!(empty["total_revenue"], "0.00");
    assert_eq!(empty["total_bookings"], 0);
    assert_eq!(empty["destinations"], json!([]));

    let mut conn = redis.conn().await;
    let id = |name: &str| uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes());
    for (name, bookings) in [("A", 1), ("B", 5), ("C", 3)] {
        let _: () = redis::pipe()
            .cmd("HSET")
            .arg(stats::keys::destination(&id(name)))
            .arg("name")
            .arg(name)
            .arg("bookings")
            .arg(bookings)
            .arg("revenue_cents")
            .arg(bookings * 100)
            .cmd("ZADD")
            .arg(stats::keys::POPULARITY)
            .arg(bookings)
            .arg(id(name).to_string())
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let top = stats.json(&json!({"destinations": 2}), None).await.expect(200).json();
    assert_eq!(
        top["destinations"],
        json!([
            {"id": id("B"), "name": "B", "bookings": 5, "revenue": "5.00"},
            {"id": id("C"), "name": "C", "bookings": 3, "revenue": "3.00"}
        ])
    );
}
