use ai::queries::suggest_price;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::testing::{TestApp, TestDb, TestRedis, closed_url};

use crate::fake_groq::FakeGroq;

async fn flight(db: &TestDb, id: &str, days: i32, capacity: i32, sold: i32) {
    sqlx::query(
        "INSERT INTO destinations (id, name, tax_amount, is_promotion, allows_pets)
         VALUES ('00000000-0000-4000-8000-00000000000a', 'Cancún', 50, true, false) ON CONFLICT DO NOTHING",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO flights (id, destination_id, flight_number, base_price, departure_at, capacity, seats_taken)
         VALUES ($1::uuid, '00000000-0000-4000-8000-00000000000a', 'CUN' || $2, 1000, now() + make_interval(days => $2), $3, $4)",
    )
    .bind(id)
    .bind(days)
    .bind(capacity)
    .bind(sold)
    .execute(&db.pool)
    .await
    .unwrap();
}

async fn app(db: &TestDb, redis: &TestRedis, groq_url: &str) -> TestApp {
    let url = db.url();
    TestApp::spawn_with(
        suggest_price::function(),
        &[
            ("database_url", &url),
            ("redis_url", &redis.url),
            ("groq_api_key", "k"),
            ("groq_base_url", groq_url),
        ],
    )
    .await
}

fn decimal(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap_or_else(|_| v.to_string().parse().unwrap())
}

#[tokio::test]
async fn a_nearly_full_flight_rises_and_an_empty_far_one_falls_within_bounds() {
    let (db, redis, groq) = (TestDb::new().await, TestRedis::new().await, FakeGroq::start().await);
    let full = "00000000-0000-4000-8000-000000000001";
    let empty = "00000000-0000-4000-8000-000000000002";
    flight(&db, full, 30, 50, 48).await;
    flight(&db, empty, 120, 50, 0).await;
    let app = app(&db, &redis, &groq.url).await;

    groq.answer("The flight is 96% full, so a higher price is justified.");
    let rise = app.json(&json!({"flight_id": full}), None).await.expect(200);
    assert_eq!(rise.header("ce-type"), Some("skybook.ai.price-suggested"));
    let rise = rise.json();
    assert_eq!(rise["current_base_price"], "1000.00");
    assert_eq!(rise["current_price"], "950.00");
    let change = decimal(&rise["change_percent"]);
    assert!(change > Decimal::from(5) && change <= Decimal::from(25), "{change}");
    assert!(decimal(&rise["suggested_base_price"]) > Decimal::from(1000));
    assert_eq!(rise["demand"]["seats_sold"], 48);
    assert_eq!(rise["demand"]["load_factor"], 0.96);
    assert_eq!(rise["explanation_source"], "model");
    assert_eq!(rise["explanation"], "The flight is 96% full, so a higher price is justified.");
    // The model is asked to explain, given the figures, and offered no tools.
    let request = &groq.requests()[0].1;
    assert!(request.get("tools").is_none());
    assert!(request["messages"][1]["content"].as_str().unwrap().contains("\"seats_sold\":48"));

    groq.answer("Empty and far off: a lower price fills it.");
    let fall = app.json(&json!({"flight_id": empty}), None).await.expect(200).json();
    let change = decimal(&fall["change_percent"]);
    assert!(change < Decimal::from(-10) && change >= Decimal::from(-25), "{change}");
    // Exact money: the suggested total is the rule applied to the suggested base.
    let base = decimal(&fall["suggested_base_price"]);
    let expected_total = (base * Decimal::new(90, 2))
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        + Decimal::from(50);
    assert_eq!(decimal(&fall["suggested_price"]), expected_total);
}

#[tokio::test]
async fn with_the_model_down_the_rules_explain_and_the_reply_is_still_200() {
    let (db, redis) = (TestDb::new().await, TestRedis::new().await);
    let id = "00000000-0000-4000-8000-000000000003";
    flight(&db, id, 10, 100, 90).await;
    let down = closed_url().await;
    let app = app(&db, &redis, &down).await;
    let reply = app.json(&json!({"flight_id": id}), None).await.expect(200).json();
    assert_eq!(reply["explanation_source"], "rules");
    assert!(
        reply["explanation"].as_str().unwrap().contains("90 of 100 seats sold"),
        "{}",
        reply["explanation"]
    );
    assert!(decimal(&reply["change_percent"]) > Decimal::ZERO);

    let missing =
        app.json(&json!({"flight_id": "00000000-0000-4000-8000-0000000000ff"}), None).await.expect(404);
    assert_eq!(missing.error_code(), "flight_not_found");
}
