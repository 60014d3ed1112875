//! Publishing after commit, and the relay for what could not be published.

use std::collections::HashMap;

use serde_json::json;
use shared::testing::{TestApp, TestSink, closed_url};

use crate::helpers::World;

const TICK: &str = "dev.knative.sources.ping";

#[tokio::test]
async fn the_published_event_is_a_valid_cloudevent_with_everything_a_consumer_needs() {
    let sink = TestSink::start().await;
    let w = World::new(&sink.url).await;
    let cancun = w.destination("Cancún", "50", true, true).await;
    let flight = w.flight(&cancun, "1000", 10).await;
    let (traceparent, tracestate) =
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "vendor=a1, other=b2");
    let data = json!({"flight_id": flight, "passenger_name": "Nino", "passenger_age": 8, "has_pet": true});
    let request = w.book.post().header("traceparent", traceparent).header("tracestate", tracestate);
    let reply = request.json(&data).send().await;
    let reply = shared::testing::ReadResponse::read(reply).await.expect(200);
    let booking = reply.json();

    let received = sink.wait_for(1).await;
    assert_eq!(received.len(), 1);
    let event = received[0].cloudevent();
    use shared::testing::cloudevents::AttributesReader;
    let event_id: String =
        sqlx::query_scalar("SELECT event_id::text FROM outbox").fetch_one(&w.db.pool).await.unwrap();
    assert_eq!(event.id(), event_id);
    // The reply is that same event: a Trigger routing it would add no second booking.
    assert_eq!(reply.header("ce-id"), Some(event_id.as_str()));
    let time =
        |value: Option<&str>| chrono::DateTime::parse_from_rfc3339(value.expect("a time")).expect("RFC 3339");
    assert_eq!(time(reply.header("ce-time")), time(received[0].header("ce-time")));
    assert_eq!(event.ty(), "skybook.booking.created");
    assert_eq!(event.source().to_string(), "/skybook/bookings");
    assert_eq!(event.subject(), booking["id"].as_str());
    assert_eq!(event.datacontenttype(), Some("application/json"));
    assert!(event.time().is_some());
    // Untraced, the caller's context is handed on whole, as a header and as
    // the event's Distributed Tracing extension.
    assert_eq!(received[0].header("traceparent"), Some(traceparent));
    assert_eq!(received[0].header("tracestate"), Some(tracestate));
    assert_eq!(event.extension("traceparent").map(|v| v.to_string()).as_deref(), Some(traceparent));
    // Percent-encoded on the wire, as the HTTP binding asks of a space.
    let extension = received[0].header("ce-tracestate").expect("a tracestate extension");
    assert_eq!(extension, "vendor=a1,%20other=b2");
    assert_eq!(shared::cloudevent::headers::decode(extension.as_bytes()).unwrap(), tracestate);

    let data = received[0].json();
    assert_eq!(data, booking);
    assert_eq!(data["price"]["total"], "950.00");
    assert_eq!(data["destination_name"], "Cancún");
    assert_eq!(data["passenger_name"], "Nino");
    assert_eq!(data["passenger_age"], 8);
    assert_eq!(data["has_pet"], true);
    assert!(data["flight_number"].as_str().unwrap().starts_with("SK"));

    // Sent events are marked together, a few times a second.
    let mut published = false;
    for _ in 0..100 {
        published = sqlx::query_scalar("SELECT published_at IS NOT NULL FROM outbox")
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
        if published {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(published, "the sent event was never marked published");
}

#[tokio::test]
async fn with_the_sink_down_bookings_succeed_and_the_relays_publish_each_event_once() {
    let down = closed_url().await;
    let w = World::new(&down).await;
    let lima = w.destination("Lima", "1", false, true).await;
    let flight = w.flight(&lima, "100", 100).await;
    for i in 0..30 {
        w.book(&flight, &format!("P{i}"), 30, false).await.expect(200);
    }
    // Each booking's own attempt fails, after its reply, and is recorded.
    let mut outbox = (0, 0, 0);
    for _ in 0..200 {
        outbox = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE published_at IS NULL), sum(attempts)::int8, count(last_error) FROM outbox",
        )
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
        if outbox.2 == 30 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (unsent, attempts, with_error): (i64, i64, i64) = outbox;
    assert_eq!((unsent, attempts, with_error), (30, 30, 30));

    // The sink comes back; two relays tick at the same moment.
    let sink = TestSink::start().await;
    let relay = |batch: &'static str| {
        let url = w.db.url();
        let sink_url = sink.url.clone();
        async move {
            TestApp::spawn_with(
                outbox::consumers::relay_outbox::function(),
                &[
                    ("database_url", &url),
                    ("k_sink", &sink_url),
                    ("outbox_grace_ms", "0"),
                    ("outbox_batch", batch),
                ],
            )
            .await
        }
    };
    let (a, b) = (relay("7").await, relay("7").await);
    let tick = json!({});
    loop {
        let (ida, idb) = (uuid(), uuid());
        let (ra, rb) = tokio::join!(a.binary(TICK, &ida, &tick), b.binary(TICK, &idb, &tick));
        assert_eq!((ra.status, rb.status), (202, 202));
        assert!(ra.body.is_empty());
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for event in sink.received() {
        *seen.entry(event.header("ce-id").unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(seen.len(), 30);
    assert!(seen.values().all(|n| *n == 1), "an event was published twice: {seen:?}");

    // Another tick finds nothing to do.
    a.binary(TICK, &uuid(), &tick).await.expect(202);
    assert_eq!(sink.received().len(), 30);
}

#[tokio::test]
async fn the_relay_leaves_young_rows_to_their_command_and_counts_failures() {
    let down = closed_url().await;
    let w = World::new(&down).await;
    let lima = w.destination("Lima", "1", false, true).await;
    let flight = w.flight(&lima, "100", 10).await;
    w.book(&flight, "Ana", 30, false).await.expect(200);
    // The booking's own attempt, made after its reply, fails and is recorded.
    for _ in 0..200 {
        let attempts: i32 =
            sqlx::query_scalar("SELECT attempts FROM outbox").fetch_one(&w.db.pool).await.unwrap();
        if attempts == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let url = w.db.url();
    let young = TestApp::spawn_with(
        outbox::consumers::relay_outbox::function(),
        &[("database_url", &url), ("k_sink", &down), ("outbox_grace_ms", "60000")],
    )
    .await;
    young.binary(TICK, "t1", &json!({})).await.expect(202);
    let attempts: i32 =
        sqlx::query_scalar("SELECT attempts FROM outbox").fetch_one(&w.db.pool).await.unwrap();
    assert_eq!(attempts, 1, "a row inside the grace period is not touched");

    let eager = TestApp::spawn_with(
        outbox::consumers::relay_outbox::function(),
        &[("database_url", &url), ("k_sink", &down), ("outbox_grace_ms", "0")],
    )
    .await;
    eager.binary(TICK, "t2", &json!({})).await.expect(202);
    let (attempts, error): (i32, String) =
        sqlx::query_as("SELECT attempts, last_error FROM outbox").fetch_one(&w.db.pool).await.unwrap();
    assert_eq!(attempts, 2);
    assert!(error.contains("sink unreachable"), "{error}");
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test]
async fn one_tick_drains_a_backlog_larger_than_a_batch() {
    let (w, _) = World::backlog(&closed_url().await, 100, 20).await;
    // The bookings' own attempts, after their replies, fail and are recorded.
    for _ in 0..200 {
        let failed: i64 =
            sqlx::query_scalar("SELECT count(last_error) FROM outbox").fetch_one(&w.db.pool).await.unwrap();
        if failed == 20 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let sink = TestSink::start().await;
    let relay = w.relay(&sink.url, &[("outbox_grace_ms", "0"), ("outbox_batch", "5")]).await;
    relay.binary(TICK, "one-tick", &json!({})).await.expect(202);
    assert_eq!(sink.received().len(), 20, "four full batches in one tick");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// Rows the broker refuses as malformed, older than everything else and more
/// than a batch of them: each is tried once and parked with its error, and
/// the good rows behind them are all published in the same tick.
#[tokio::test]
async fn poisoned_rows_are_parked_and_the_rows_behind_them_still_go_out() {
    let (w, _) = World::backlog(&closed_url().await, 100, 20).await;
    sqlx::query(
        "INSERT INTO outbox (event_id, type, source, subject, data, created_at)
         SELECT gen_random_uuid(), 'skybook.poison', '/tests', 'p', '{}', now() - interval '1 hour'
         FROM generate_series(1, 120)",
    )
    .execute(&w.db.pool)
    .await
    .unwrap();
    let sink = TestSink::start().await;
    sink.refuse_type("skybook.poison");
    let relay = w.relay(&sink.url, &[("outbox_grace_ms", "0"), ("outbox_batch", "50")]).await;
    relay.binary(TICK, "poisoned-tick", &json!({})).await.expect(202);
    assert_eq!(sink.received().len(), 20, "every good row went out");
    let (parked, attempts, errors): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(parked_at), max(attempts)::int8, count(*) FILTER (WHERE last_error LIKE '%400%')
         FROM outbox WHERE type = 'skybook.poison'",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!((parked, attempts, errors), (120, 1, 120), "each poison row tried once and parked");
    let unpublished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NULL")
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    assert_eq!(unpublished, 0);

    // A later tick leaves parked rows alone.
    relay.binary(TICK, "next-tick", &json!({})).await.expect(202);
    let attempts: i64 =
        sqlx::query_scalar("SELECT max(attempts)::int8 FROM outbox WHERE type = 'skybook.poison'")
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    assert_eq!(attempts, 1);
}

/// A row that fails for now is deferred on its own back-off: it never sorts
/// ahead of rows that can go, and it goes once the sink is back.
#[tokio::test]
async fn a_failing_row_backs_off_on_its_own() {
    let down = closed_url().await;
    let (w, _) = World::backlog(&down, 10, 1).await;
    let failing = w.relay(&down, &[("outbox_grace_ms", "0")]).await;
    failing.binary(TICK, "a", &json!({})).await.expect(202);
    let wait: f64 =
        sqlx::query_scalar("SELECT extract(epoch FROM next_attempt_at - now())::float8 FROM outbox")
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    assert!(wait > 0.5, "deferred, not due at once: {wait}");
    // Not due yet: a tick with the sink back leaves it, then sends it when due.
    let sink = TestSink::start().await;
    let working = w.relay(&sink.url, &[("outbox_grace_ms", "0")]).await;
    working.binary(TICK, "b", &json!({})).await.expect(202);
    assert_eq!(sink.received().len(), 0, "not before its back-off ends");
    sqlx::query("UPDATE outbox SET next_attempt_at = now()").execute(&w.db.pool).await.unwrap();
    working.binary(TICK, "c", &json!({})).await.expect(202);
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn every_emitted_event_carries_the_extensions_the_platform_asks_for() {
    let sink = TestSink::start().await;
    let w = World::new(&sink.url).await;
    let oslo = w.destination("Oslo", "0", false, true).await;
    let flight = w.flight(&oslo, "100", 10).await;
    // What a SinkBinding's `ceOverrides` puts in K_CE_OVERRIDES.
    let overrides = r#"{"extensions":{"cluster":"eu-1","team":"réservas"}}"#;
    let url = w.db.url();
    let book = TestApp::spawn_with(
        bookings::commands::create_booking::function(),
        &[("database_url", &url), ("k_sink", &sink.url), ("k_ce_overrides", overrides)],
    )
    .await;
    let data = json!({"flight_id": flight, "passenger_name": "Ada", "passenger_age": 40, "has_pet": false});
    book.json(&data, None).await.expect(200);
    let events = sink.wait_for(1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].header("ce-cluster"), Some("eu-1"));
    // Non-ASCII goes percent-encoded, as the HTTP binding writes it.
    assert_eq!(events[0].header("ce-team"), Some("r%C3%A9servas"));
    assert_eq!(events[0].header("ce-type"), Some("skybook.booking.created"));
}

/// A broker that takes the connection and never answers.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/default/default", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    url
}

fn booking_data(flight: &str) -> serde_json::Value {
    json!({"flight_id": flight, "passenger_name": "Ada", "passenger_age": 40, "has_pet": false})
}

#[tokio::test]
async fn the_reply_does_not_wait_for_the_broker_and_a_process_killed_before_publishing_loses_nothing() {
    let hole = black_hole().await;
    let w = World::new(&hole).await;
    let oslo = w.destination("Oslo", "0", false, true).await;
    let flight = w.flight(&oslo, "100", 10).await;
    let url = w.db.url();
    let mut process = shared::testing::TestProcess::start(
        shared::testing::binary("create-booking"),
        &[],
        &[("DATABASE_URL", &url), ("K_SINK", &hole), ("PUBLISH_TIMEOUT_MS", "5000")],
    )
    .await;
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let (traceparent, tracestate) =
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "vendor=relayed");
    let request =
        client.post(&process.url).header("traceparent", traceparent).header("tracestate", tracestate);
    let reply = request.json(&booking_data(&flight)).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "the reply waited for a broker that never answers: {:?}",
        started.elapsed()
    );

    // Killed while its publish hangs: the event is in the outbox, unsent.
    process.kill();
    let (published, attempts): (Option<chrono::DateTime<chrono::Utc>>, i32) =
        sqlx::query_as("SELECT published_at, attempts FROM outbox").fetch_one(&w.db.pool).await.unwrap();
    assert_eq!((published, attempts), (None, 0));

    // The relay's next tick sends it.
    let sink = TestSink::start().await;
    let relay = TestApp::spawn_with(
        outbox::consumers::relay_outbox::function(),
        &[("database_url", &url), ("k_sink", &sink.url), ("outbox_grace_ms", "0")],
    )
    .await;
    relay.binary(TICK, "t1", &json!({})).await.expect(202);
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("ce-type"), Some("skybook.booking.created"));
    // The context the event was created in is kept with it, and sent with it however late.
    assert_eq!(received[0].header("ce-traceparent"), Some(traceparent));
    assert_eq!(received[0].header("ce-tracestate"), Some("vendor=relayed"));
    assert_eq!(received[0].header("tracestate"), Some(tracestate));
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(unsent, 0);
}

#[tokio::test]
async fn sigterm_sends_what_the_process_owes_before_it_exits() {
    let sink = TestSink::start().await;
    let w = World::new(&sink.url).await;
    let oslo = w.destination("Oslo", "0", false, true).await;
    let flight = w.flight(&oslo, "100", 10).await;
    // A slow broker: each publish takes 800 ms, longer than the reply.
    sink.delay(std::time::Duration::from_millis(800));
    let url = w.db.url();
    let mut process = shared::testing::TestProcess::start(
        shared::testing::binary("create-booking"),
        &[],
        &[("DATABASE_URL", &url), ("K_SINK", &sink.url)],
    )
    .await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let reply = client.post(&process.url).json(&booking_data(&flight)).send().await.unwrap();
        assert_eq!(reply.status(), 200);
    }
    // Scaled to zero right after replying: nothing in flight, three events
    // owed. (Waited for off this thread: the sink runs on it.)
    let status = tokio::task::spawn_blocking(move || process.terminate()).await.unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(sink.received().len(), 3, "the events were not sent before the process exited");
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(unsent, 0, "sent, and marked so");
}

/// Retention keeps up with any rate: one tick deletes everything that
/// expired (published outbox rows, idempotency keys, replayed dead letters),
/// in batches of short transactions, far past the 5,000 rows a tick once
/// took (which above ~83 writes a second fell behind for good); what has not
/// expired, what is still to publish and what waits for a replay stays.
#[tokio::test]
async fn one_tick_deletes_everything_that_expired_and_nothing_else() {
    let w = World::new(&closed_url().await).await;
    sqlx::query(
        "INSERT INTO outbox (event_id, type, source, subject, data, created_at, published_at)
         SELECT gen_random_uuid(), 'skybook.old', '/tests', 's', '{}'::jsonb, now() - interval '30 days',
                CASE WHEN i % 1000 = 0 THEN NULL ELSE now() - interval '30 days' + i * interval '1 ms' END
         FROM generate_series(1, 60000) i
         UNION ALL
         SELECT gen_random_uuid(), 'skybook.recent', '/tests', 's', '{}'::jsonb, now(), now() FROM generate_series(1, 100)",
    )
    .execute(&w.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO idempotency (function, key, request, created_at)
         SELECT 'create-booking', 'k' || i, '{}'::jsonb, now() - interval '30 days' FROM generate_series(1, 40000) i
         UNION ALL SELECT 'create-booking', 'fresh', '{}'::jsonb, now()",
    )
    .execute(&w.db.pool)
    .await
    .unwrap();

    sqlx::query(
        "INSERT INTO dead_letters (id, event_source, event_id, event_type, event, received_at, status, replayed_at)
         SELECT gen_random_uuid(), '/s', 'old-replayed-' || i, 't', '{}'::jsonb, now() - interval '40 days',
                'replayed', now() - interval '30 days'
         FROM generate_series(1, 6000) i
         UNION ALL SELECT gen_random_uuid(), '/s', 'old-pending', 't', '{}'::jsonb, now() - interval '40 days', 'pending', NULL
         UNION ALL SELECT gen_random_uuid(), '/s', 'just-replayed', 't', '{}'::jsonb, now() - interval '40 days',
                          'replayed', now()",
    )
    .execute(&w.db.pool)
    .await
    .unwrap();

    let sink = TestSink::start().await;
    let relay = w.relay(&sink.url, &[("outbox_grace_ms", "0"), ("retention_days", "8")]).await;
    relay.binary(TICK, "retention-tick", &json!({})).await.expect(202);

    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE type = 'skybook.old' AND published_at IS NOT NULL),
                count(*) FILTER (WHERE type = 'skybook.old' AND published_at IS NULL AND parked_at IS NULL),
                count(*) FILTER (WHERE type = 'skybook.recent')
         FROM outbox",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    // The 60 unpublished old rows went out in this tick (published now), so they stay.
    assert_eq!(counts, (60, 0, 100), "expired published rows gone; the rest kept");
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT key FROM idempotency").fetch_all(&w.db.pool).await.unwrap();
    assert_eq!(keys, vec!["fresh".to_owned()]);
    // A dead letter goes once replayed longer ago than the retention; a pending one stays.
    let mut letters: Vec<String> =
        sqlx::query_scalar("SELECT event_id FROM dead_letters").fetch_all(&w.db.pool).await.unwrap();
    letters.sort();
    assert_eq!(letters, vec!["just-replayed".to_owned(), "old-pending".to_owned()]);
}

/// The horizon a consumer settles up to: never past a number an open
/// transaction holds (it waits, then says so), and past it once that
/// transaction has committed or rolled back.
#[tokio::test]
async fn the_outbox_horizon_waits_for_every_open_transaction_holding_a_number() {
    let db = shared::testing::TestDb::new().await;
    let event = |n: u128| shared::outbox::OutboxEvent {
        event_id: uuid::Uuid::from_u128(n),
        seq: 0,
        ty: "skybook.booking.created".into(),
        source: "/skybook/bookings".into(),
        subject: "b".into(),
        data: json!({}),
        traceparent: None,
        tracestate: None,
        created_at: chrono::Utc::now(),
    };
    let wait = std::time::Duration::from_millis(300);
    let mut n = 0;
    // Straight to PostgreSQL, and behind the transaction-mode pooler as in a cluster.
    for (mode, url) in [("session", db.direct_url()), ("transaction", db.url())] {
        let settings =
            shared::config::Settings::with_overrides(&[("database_url", &url), ("db_pool_mode", mode)])
                .unwrap();
        let database = shared::db::Database::new(&settings).unwrap();
        let before = shared::outbox::horizon(&database, wait).await.unwrap().expect("nothing open");
        for outcome in ["commit", "rollback"] {
            n += 1;
            let mut open = database.begin().await.unwrap();
            let mut events = [event(n)];
            shared::outbox::insert(open.exec(), &mut events, None).await.unwrap();
            let held = events[0].seq;
            assert!(held > before, "{mode}");
            let now = shared::outbox::horizon(&database, wait).await.unwrap();
            assert_eq!(now, None, "{mode}, {outcome}: still open");
            if outcome == "commit" {
                open.commit().await.unwrap();
            } else {
                drop(open);
            }
            let horizon = shared::outbox::horizon(&database, wait).await.unwrap().expect("nothing open");
            assert!(horizon >= held, "{mode}, {outcome}: {horizon} < {held}");
        }
    }
}
