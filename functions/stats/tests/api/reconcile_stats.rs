use serde_json::json;
use shared::testing::Received;
use stats::keys;

use crate::helpers::World;

/// Events that never arrived, and a key someone broke: one tick rebuilds
/// every key from PostgreSQL and reports the drift; the lost events,
/// delivered late, are not counted again; the next tick finds nothing to do.
#[tokio::test]
async fn a_tick_reports_drift_and_rebuilds_from_postgresql() {
    let _metrics = crate::helpers::RECONCILE_METRICS.lock().await;
    let world = World::new().await;
    world.reconcile(false).await;
    let broken_before = world.rebuilds("broken").await;
    let (_, cusco) = world.route("Cusco", "CU1").await;
    let (_, lima) = world.route("Lima", "LI1").await;
    let ana = world.book(&cusco, "Ana", 34, true).await;
    world.book(&cusco, "Nino", 8, false).await;
    world.book(&lima, "Eva", 70, true).await;
    world.book(&lima, "Lia", 5, false).await;
    world.cancel.json(&json!({"id": ana}), None).await.expect(200);
    let events = world.sink.wait_for(5).await;
    // Two of five arrive; then the infant counter is overwritten with junk.
    for event in &events[..2] {
        assert_eq!(world.deliver(event).await, 202);
    }
    assert_ne!(world.stats().await, world.truth().await);
    let mut conn = world.redis.conn().await;
    let _: () =
        redis::cmd("SET").arg(keys::TOTAL_INFANT_COUNT).arg("junk").query_async(&mut conn).await.unwrap();

    world.reconcile(false).await;
    assert_eq!(world.stats().await, world.truth().await);
    assert_eq!(world.candy_log().await, world.candy_truth().await);
    assert_eq!(world.metric("skybook_stats_drift{measure=\"bookings\"}").await, Some(1.0));
    assert_eq!(world.rebuilds("broken").await, broken_before + 1.0);

    // The lost events turn up after all: the rebuild already holds them.
    for event in &events {
        assert_eq!(world.deliver(event).await, 202);
    }
    assert_eq!(world.stats().await, world.truth().await);
    world.reconcile(false).await;
    assert_eq!(world.rebuilds("broken").await, broken_before + 1.0, "nothing to rebuild");
    assert_eq!(world.metric("skybook_stats_owed_events").await, Some(0.0));
}

/// Events that have not arrived when the floor passes them are owed, not
/// forgotten: each is applied once when it comes (a late delivery, a
/// replayed dead letter), and no tick rebuilds for them.
#[tokio::test]
async fn events_the_floor_passed_before_they_arrived_are_owed_and_applied_once() {
    let _metrics = crate::helpers::RECONCILE_METRICS.lock().await;
    let world = World::new().await;
    world.reconcile(false).await;
    let rebuilt_before = world.all_rebuilds().await;
    let (_, cusco) = world.route("Cusco", "CU1").await;
    let ana = world.book(&cusco, "Ana", 34, true).await;
    world.book(&cusco, "Nino", 8, false).await;
    world.cancel.json(&json!({"id": ana}), None).await.expect(200);
    let events = world.sink.wait_for(3).await;
    assert_eq!(world.deliver(&events[0]).await, 202);

    world.reconcile(false).await;
    assert_eq!(world.metric("skybook_stats_owed_events").await, Some(2.0));
    let mut conn = world.redis.conn().await;
    let floor: i64 = redis::cmd("GET").arg(keys::APPLIED_FLOOR).query_async(&mut conn).await.unwrap();
    let last: i64 =
        sqlx::query_scalar("SELECT max(seq) FROM outbox").fetch_one(&world.db.pool).await.unwrap();
    assert!(floor > last, "the floor passed every committed event: {floor} <= {last}");
    assert_ne!(world.stats().await, world.truth().await);

    for _ in 0..2 {
        for event in &events {
            assert_eq!(world.deliver(event).await, 202);
        }
    }
    assert_eq!(world.stats().await, world.truth().await, "each applied once");
    assert_eq!(world.candy_log().await, world.candy_truth().await);
    world.reconcile(false).await;
    assert_eq!(world.metric("skybook_stats_owed_events").await, Some(0.0));
    assert_eq!(world.all_rebuilds().await, rebuilt_before, "nothing was rebuilt");
}

/// The totals no longer the sums of their destinations (a hand-edited key):
/// the tick's check, which reads no booking, finds it and rebuilds.
#[tokio::test]
async fn totals_that_disagree_with_their_destinations_are_rebuilt() {
    let _metrics = crate::helpers::RECONCILE_METRICS.lock().await;
    let world = World::new().await;
    world.reconcile(false).await;
    let before = world.rebuilds("inconsistent").await;
    let (_, cusco) = world.route("Cusco", "CU1").await;
    world.book(&cusco, "Ana", 34, true).await;
    for event in &world.sink.wait_for(1).await {
        assert_eq!(world.deliver(event).await, 202);
    }
    let mut conn = world.redis.conn().await;
    let _: () =
        redis::cmd("INCRBY").arg(keys::TOTAL_REVENUE_CENTS).arg(100).query_async(&mut conn).await.unwrap();
    world.reconcile(false).await;
    assert_eq!(world.rebuilds("inconsistent").await, before + 1.0);
    assert_eq!(world.stats().await, world.truth().await);
}

/// A Redis that lost everything (a new volume, a wiped node): the next tick
/// finds the drift and rebuilds, and the events delivered before, should the
/// broker send them again, are not counted twice, as the rebuild remembers
/// them as applied.
#[tokio::test]
async fn after_redis_loses_everything_one_tick_brings_the_stats_back_with_nothing_doubled() {
    let _metrics = crate::helpers::RECONCILE_METRICS.lock().await;
    let world = World::new().await;
    let (_, cusco) = world.route("Cusco", "CU1").await;
    let ana = world.book(&cusco, "Ana", 34, true).await;
    world.book(&cusco, "Nino", 8, false).await;
    world.cancel.json(&json!({"id": ana}), None).await.expect(200);
    let events = world.sink.wait_for(3).await;
    for event in &events {
        assert_eq!(world.deliver(event).await, 202);
    }
    assert_eq!(world.stats().await, world.truth().await);

    let mut conn = world.redis.conn().await;
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
    assert_ne!(world.stats().await, world.truth().await, "nothing left");

    world.reconcile(false).await;
    assert_eq!(world.stats().await, world.truth().await);
    assert_eq!(world.candy_log().await, world.candy_truth().await);
    for event in &events {
        assert_eq!(world.deliver(event).await, 202);
    }
    assert_eq!(world.stats().await, world.truth().await, "redelivered, counted once");
}

/// Rebuilds run while bookings are made and their events delivered (some
/// twice, some late): whatever interleaving happens, the stats end equal
/// to PostgreSQL, every event counted once.
#[tokio::test]
async fn a_rebuild_under_traffic_loses_and_doubles_nothing() {
    let _metrics = crate::helpers::RECONCILE_METRICS.lock().await;
    let world = World::new().await;
    let (_, cusco) = world.route("Cusco", "CU1").await;
    let (_, lima) = world.route("Lima", "LI1").await;
    let mut delivered = 0;
    for round in 0..4 {
        // A backlog: bookings whose events have not arrived yet.
        for i in 0..10 {
            let flight = if i % 2 == 0 { &cusco } else { &lima };
            world.book(flight, &format!("P{round}-{i}"), (i * 7) % 30, i % 3 == 0).await;
        }
        let backlog = world.booking_events();
        let fresh = std::cell::Cell::new(backlog.len());
        let traffic = async {
            let mut pending: Vec<Received> = backlog[delivered..].to_vec();
            for i in 0..10 {
                let flight = if i % 2 == 0 { &lima } else { &cusco };
                let id = world.book(flight, &format!("Q{round}-{i}"), 40 + i, false).await;
                if i % 4 == 0 {
                    world.cancel.json(&json!({"id": id}), None).await.expect(200);
                }
                // The new events at once (after the rebuild's snapshot, perhaps
                // before its swap), the backlog's as they come, a duplicate now and then.
                let published = world.booking_events();
                for event in &published[fresh.get()..] {
                    assert_eq!(world.deliver(event).await, 202);
                }
                fresh.set(published.len());
                if let Some(event) = pending.pop() {
                    assert_eq!(world.deliver(&event).await, 202);
                    if i % 3 == 0 {
                        assert_eq!(world.deliver(&event).await, 202);
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            }
            for event in pending {
                assert_eq!(world.deliver(&event).await, 202);
            }
        };
        tokio::join!(world.reconcile(true), traffic);
        // Whatever the commands published that is still undelivered.
        let all = world.booking_events();
        for event in &all[fresh.get()..] {
            assert_eq!(world.deliver(event).await, 202);
        }
        delivered = all.len();
        assert_eq!(world.stats().await, world.truth().await, "round {round}");
    }
    assert_eq!(world.candy_log().await, world.candy_truth().await);
}

/// Stats are kept by destination id: a rename between a booking and its
/// cancellation moves nothing, and the stats show the new name.
#[tokio::test]
async fn a_rename_between_a_booking_and_its_cancellation_keeps_the_stats_right() {
    let world = World::new().await;
    let (cusco_id, cusco) = world.route("Cusco", "CU1").await;
    let (_, lima) = world.route("Lima", "LI1").await;
    let first = world.book(&cusco, "Ana", 34, false).await;
    world.book(&cusco, "Eva", 50, false).await;
    world.book(&lima, "Lia", 30, false).await;
    world.update_destination.json(&json!({"id": cusco_id, "name": "Cuzco"}), None).await.expect(200);
    world.cancel.json(&json!({"id": first}), None).await.expect(200);
    world.update_destination.json(&json!({"id": cusco_id, "name": "Qosqo"}), None).await.expect(200);
    let events = world.sink.wait_for(7).await;
    // The renames arrive last, the newer first: the older one must not win.
    let (renames, bookings): (Vec<_>, Vec<_>) =
        events.iter().partition(|e| e.header("ce-type") == Some("skybook.destination.updated"));
    for event in bookings.iter().chain(renames.iter().rev()) {
        assert_eq!(world.deliver(event).await, 202);
    }
    let stats = world.stats().await;
    assert_eq!(stats, world.truth().await);
    assert_eq!(
        stats["destinations"],
        json!([
            {"id": lima_or_cusco(&stats, "Lima"), "name": "Lima", "bookings": 1, "revenue": "110.50"},
            {"id": cusco_id, "name": "Qosqo", "bookings": 1, "revenue": "110.50"},
        ])
    );
}

fn lima_or_cusco(stats: &serde_json::Value, name: &str) -> serde_json::Value {
    stats["destinations"].as_array().unwrap().iter().find(|d| d["name"] == name).unwrap()["id"].clone()
}
