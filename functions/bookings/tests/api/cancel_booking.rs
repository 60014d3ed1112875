use serde_json::json;
use shared::testing::TestSink;

use crate::helpers::{CANCEL, World};

#[tokio::test]
async fn cancelling_frees_the_seat_emits_once_and_is_idempotent() {
    let sink = TestSink::start().await;
    let w = World::new(&sink.url).await;
    let lima = w.destination("Lima", "5", false, true).await;
    let flight = w.flight(&lima, "100", 3).await;
    let booking = w.book(&flight, "Ana", 30, true).await.expect(200).json();
    let id = booking["id"].as_str().unwrap();

    let reply = w.cancel.binary(CANCEL, "c1", &json!({"id": id})).await.expect(200);
    assert_eq!(reply.header("ce-type"), Some("skybook.booking.cancelled"));
    assert_eq!(reply.header("ce-subject"), Some(id));
    let cancelled = reply.json();
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["cancelled_at"].is_string());
    assert_eq!(cancelled["price"], booking["price"]);
    assert_eq!(w.seats_taken(&flight).await, 0);

    // The same event again, and a new cancel of the same booking: no change, no event.
    let again = w.cancel.binary(CANCEL, "c1", &json!({"id": id})).await.expect(200);
    assert_eq!(again.body, reply.body);
    let other = w.cancel.binary(CANCEL, "c2", &json!({"id": id})).await.expect(200).json();
    assert_eq!(other["status"], "cancelled");
    assert_eq!(other["cancelled_at"], cancelled["cancelled_at"]);
    assert_eq!(w.seats_taken(&flight).await, 0);

    // Each command publishes after its reply, so the two may arrive in either order.
    let received = sink.wait_for(2).await;
    let mut types: Vec<String> =
        received.iter().map(|e| e.header("ce-type").unwrap_or_default().to_owned()).collect();
    types.sort();
    assert_eq!(types, ["skybook.booking.cancelled", "skybook.booking.created"]);
    let event = received.iter().find(|e| e.header("ce-type") == Some("skybook.booking.cancelled")).unwrap();
    assert_eq!(event.header("ce-subject"), Some(id));
    assert_eq!(event.json()["status"], "cancelled");
}

#[tokio::test]
async fn cancelling_an_unknown_booking_is_404() {
    let sink = TestSink::start().await;
    let w = World::new(&sink.url).await;
    let missing =
        w.cancel.json(&json!({"id": "0191d9d2-0000-7000-8000-000000000000"}), None).await.expect(404);
    assert_eq!(missing.error_code(), "booking_not_found");
    assert_eq!(w.count("outbox").await, 0);
}
