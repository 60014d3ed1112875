use flights::queries::get_flight;
use serde_json::json;

use crate::helpers::{Fixture, in_days};

const GET: &str = "skybook.flight.get";

#[tokio::test]
async fn the_seed_example_quotes_exactly_950() {
    let fx = Fixture::new().await;
    let get = fx.spawn(get_flight::function()).await;
    let cancun = fx.destination("Cancún", "50", true).await;
    let flight = fx.flight(&cancun, "SK1", "1000", in_days(10)).await;

    let reply = get.binary(GET, "g1", &json!({"id": flight["id"]})).await.expect(200);

    assert_eq!(reply.header("ce-type"), Some("skybook.flight.found"));
    assert_eq!(reply.header("ce-subject"), flight["id"].as_str());
    let found = reply.json();
    assert_eq!(
        found["price"],
        json!({"base_price": "1000.00", "discount": "100.00", "tax": "50.00", "total": "950.00"})
    );
    assert_eq!(found["seats_left"], 50);
    assert_eq!(found["capacity"], 50);
}

#[tokio::test]
async fn quotes_round_to_cents_half_away_from_zero_and_no_promotion_is_base_plus_tax() {
    let fx = Fixture::new().await;
    let get = fx.spawn(get_flight::function()).await;
    let promo = fx.destination("Promo", "0.10", true).await;
    let plain = fx.destination("Plain", "19.99", false).await;
    // 100.05 * 0.90 = 90.045 -> 90.05 (half-even would give 90.04); + 0.10 tax.
    let rounding = fx.flight(&promo, "R1", "100.05", in_days(5)).await;
    let full_price = fx.flight(&plain, "P1", "1000.01", in_days(5)).await;

    let r = get.json(&json!({"id": rounding["id"]}), None).await.expect(200).json();
    assert_eq!(r["price"]["total"], "90.15");
    assert_eq!(r["price"]["discount"], "10.00");
    let p = get.json(&json!({"id": full_price["id"]}), None).await.expect(200).json();
    assert_eq!(p["price"]["total"], "1020.00");
    assert_eq!(p["price"]["discount"], "0.00");
}

#[tokio::test]
async fn seats_left_counts_taken_seats_and_unknown_ids_are_404() {
    let fx = Fixture::new().await;
    let get = fx.spawn(get_flight::function()).await;
    let lima = fx.destination("Lima", "0", false).await;
    let flight = fx.flight(&lima, "LA1", "10", in_days(5)).await;
    sqlx::query("UPDATE flights SET seats_taken = 48 WHERE id = $1::uuid")
        .bind(flight["id"].as_str())
        .execute(&fx.db.pool)
        .await
        .unwrap();

    let found = get.json(&json!({"id": flight["id"]}), None).await.expect(200).json();
    assert_eq!(found["seats_left"], 2);

    let missing = get.json(&json!({"id": "0191d9d2-0000-7000-8000-000000000000"}), None).await.expect(404);
    assert_eq!(missing.error_code(), "flight_not_found");
    let bad = get.json(&json!({"id": 7}), None).await.expect(400);
    assert_eq!(bad.error_code(), "invalid_data");
}

/// What the function serves at `GET /schema` is what `schemas/` publishes
/// for its types, `$id` and title included: a client may read either.
#[tokio::test]
async fn the_schemas_it_serves_are_the_published_ones() {
    let fx = Fixture::new().await;
    let get = fx.spawn(get_flight::function()).await;
    let served = get.get("/schema").await.expect(200).json();
    let published = |ty: &str| -> serde_json::Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../schemas/{ty}.json"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    assert_eq!(served["accepts"]["schema"], published(GET));
    assert_eq!(served["replies"]["schema"], published("skybook.flight.found"));
    assert_eq!(served["replies"]["dataschema"], published("skybook.flight.found")["$id"]);
}
