use chrono::Duration;
use flights::queries::list_flights;
use serde_json::{Value, json};

use crate::helpers::{Fixture, in_days};

fn numbers(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flight_number"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn pages_in_departure_order_without_gaps_or_repeats() {
    let fx = Fixture::new().await;
    let list = fx.spawn(list_flights::function()).await;
    let lima = fx.destination("Lima", "0", false).await;
    let same_time = in_days(2);
    // Three flights share a departure time: the id breaks the tie.
    for (n, when) in
        [("A5", in_days(5)), ("A1", same_time), ("A2", same_time), ("A3", same_time), ("A4", in_days(4))]
    {
        fx.flight(&lima, n, "100", when).await;
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = list.json(&json!({"limit": 2, "cursor": cursor}), None).await.expect(200).json();
        seen.extend(numbers(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    seen[..3].sort();
    assert_eq!(seen, ["A1", "A2", "A3", "A4", "A5"]);

    let bad = list.json(&json!({"cursor": "nonsense"}), None).await.expect(400);
    assert_eq!(bad.error_code(), "invalid_cursor");
}

#[tokio::test]
async fn filters_by_destination_window_and_total_price() {
    let fx = Fixture::new().await;
    let list = fx.spawn(list_flights::function()).await;
    let cancun = fx.destination("Cancún", "50", true).await;
    let lima = fx.destination("Lima", "0.01", false).await;
    fx.flight(&cancun, "C1", "1000", in_days(1)).await; // total 950.00
    fx.flight(&cancun, "C2", "100.05", in_days(3)).await; // 90.05 + 50 = 140.05
    fx.flight(&lima, "L1", "949.99", in_days(2)).await; // 950.00
    fx.flight(&lima, "L2", "2000", in_days(20)).await; // 2000.01

    let to_cancun = list.json(&json!({"destination_id": cancun}), None).await.expect(200).json();
    assert_eq!(numbers(&to_cancun), ["C1", "C2"]);

    let window = list
        .json(&json!({"departs_after": in_days(1) + Duration::hours(1), "departs_before": in_days(10)}), None)
        .await
        .expect(200)
        .json();
    assert_eq!(numbers(&window), ["L1", "C2"]);

    // The SQL filter and the Rust quote agree to the cent, boundary included.
    let at_950 = list.json(&json!({"max_price": "950.00"}), None).await.expect(200).json();
    assert_eq!(numbers(&at_950), ["C1", "L1", "C2"]);
    let below = list.json(&json!({"max_price": "949.99"}), None).await.expect(200).json();
    assert_eq!(numbers(&below), ["C2"]);
    let at_140_05 = list.json(&json!({"max_price": 140.05}), None).await.expect(200).json();
    assert_eq!(numbers(&at_140_05), ["C2"]);
    for flight in at_950["items"].as_array().unwrap() {
        assert!(flight["price"]["total"].as_str().unwrap().parse::<f64>().unwrap() <= 950.0);
    }
}

#[tokio::test]
async fn past_flights_are_left_out_unless_asked_for() {
    let fx = Fixture::new().await;
    let list = fx.spawn(list_flights::function()).await;
    let lima = fx.destination("Lima", "0", false).await;
    let flight = fx.flight(&lima, "OLD1", "10", in_days(1)).await;
    sqlx::query("UPDATE flights SET departure_at = now() - interval '1 day' WHERE id = $1::uuid")
        .bind(flight["id"].as_str())
        .execute(&fx.db.pool)
        .await
        .unwrap();
    let upcoming = list.json(&json!({}), None).await.expect(200).json();
    assert!(numbers(&upcoming).is_empty());
    let all = list.json(&json!({"departs_after": in_days(-7)}), None).await.expect(200).json();
    assert_eq!(numbers(&all), ["OLD1"]);
}
