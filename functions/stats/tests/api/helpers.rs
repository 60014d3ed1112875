//! A small Skybook for the stats tests: the real commands writing to a test
//! database and publishing to a sink, whose events a test hands to the stats
//! consumers itself (late, twice, or never), and the truth read from
//! PostgreSQL with SQL of the test's own.

use serde_json::{Value, json};
use shared::testing::{ReadResponse, Received, TestApp, TestDb, TestRedis, TestSink};
use stats::consumers::{reconcile_stats, record_booking_stats, record_destination_name};

/// reconcile-stats reports in process-wide metrics: the tests that read
/// them run one at a time.
pub static RECONCILE_METRICS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The key the world's functions sign and check events with, as a
/// deployment's do: what the commands emit reaches the consumers signed.
pub const EVENT_KEY: &str = "stats-tests-event-key-0123456789abcdef";

pub struct World {
    pub db: TestDb,
    pub redis: TestRedis,
    pub sink: TestSink,
    pub create_destination: TestApp,
    pub update_destination: TestApp,
    pub create_flight: TestApp,
    pub book: TestApp,
    pub cancel: TestApp,
    pub record: TestApp,
    pub names: TestApp,
    pub reconcile: TestApp,
    pub stats: TestApp,
}

impl World {
    pub async fn new() -> World {
        let db = TestDb::new().await;
        let redis = TestRedis::new().await;
        let sink = TestSink::start().await;
        let url = db.url();
        let with_sink = [
            ("database_url", url.as_str()),
            ("k_sink", sink.url.as_str()),
            ("event_signing_keys", EVENT_KEY),
        ];
        let redis_only = [("redis_url", redis.url.as_str()), ("event_signing_keys", EVENT_KEY)];
        let both = [
            ("database_url", url.as_str()),
            ("redis_url", redis.url.as_str()),
            ("stats_settle_ms", "200"),
            ("event_signing_keys", EVENT_KEY),
        ];
        World {
            create_destination: TestApp::spawn(destinations::commands::create_destination::function(), &db)
                .await,
            update_destination: TestApp::spawn_with(
                destinations::commands::update_destination::function(),
                &with_sink,
            )
            .await,
            create_flight: TestApp::spawn(flights::commands::create_flight::function(), &db).await,
            book: TestApp::spawn_with(bookings::commands::create_booking::function(), &with_sink).await,
            cancel: TestApp::spawn_with(bookings::commands::cancel_booking::function(), &with_sink).await,
            record: TestApp::spawn_with(record_booking_stats::function(), &redis_only).await,
            names: TestApp::spawn_with(record_destination_name::function(), &redis_only).await,
            reconcile: TestApp::spawn_with(reconcile_stats::function(), &both).await,
            stats: TestApp::spawn_with(stats::queries::get_stats::function(), &redis_only).await,
            db,
            redis,
            sink,
        }
    }

    /// A destination (pets allowed) and one flight to it: (destination id, flight id).
    pub async fn route(&self, name: &str, number: &str) -> (String, String) {
        let d = self
            .create_destination
            .json(
                &json!({"name": name, "tax_amount": "10", "is_promotion": false, "allows_pets": true}),
                None,
            )
            .await
            .expect(200)
            .json();
        let f = self
            .create_flight
            .json(
                &json!({"destination_id": d["id"], "flight_number": number, "base_price": "100.50",
                        "departure_at": "2099-01-01T00:00:00Z", "capacity": 500}),
                None,
            )
            .await
            .expect(200)
            .json();
        (d["id"].as_str().unwrap().to_owned(), f["id"].as_str().unwrap().to_owned())
    }

    /// Books a seat; returns the booking's id.
    pub async fn book(&self, flight: &str, name: &str, age: i64, pet: bool) -> String {
        let data = json!({"flight_id": flight, "passenger_name": name, "passenger_age": age, "has_pet": pet});
        self.book.json(&data, None).await.expect(200).json()["id"].as_str().unwrap().to_owned()
    }

    /// A world with one booking made, and the skybook.booking.created it emitted.
    pub async fn booked(destination: &str, flight: &str) -> (World, Received) {
        let world = World::new().await;
        let (_, flight) = world.route(destination, flight).await;
        world.book(&flight, "Ana", 30, false).await;
        world.sink.wait_for(1).await;
        let event = world.booking_events().remove(0);
        (world, event)
    }

    /// Hands an event the commands published to the consumer of its type.
    pub async fn deliver(&self, event: &Received) -> u16 {
        let consumer = match event.header("ce-type") {
            Some("skybook.destination.updated") => &self.names,
            _ => &self.record,
        };
        let mut request = consumer.post().body(event.body.clone());
        for (name, value) in &event.headers {
            if name.as_str().starts_with("ce-") || name == "content-type" {
                request = request.header(name, value);
            }
        }
        request.send().await.read().await.status
    }

    /// Every booking event the commands published so far, in order.
    pub fn booking_events(&self) -> Vec<Received> {
        self.sink
            .received()
            .into_iter()
            .filter(|e| e.header("ce-type").is_some_and(|t| t.starts_with("skybook.booking.")))
            .collect()
    }

    /// What get-stats answers, every destination and no candy log.
    pub async fn stats(&self) -> Value {
        let mut s =
            self.stats.json(&json!({"destinations": 100, "candy_log": 100}), None).await.expect(200).json();
        s.as_object_mut().unwrap().remove("candy_log");
        s
    }

    /// What the stats should say, by the contract's rules, from PostgreSQL.
    pub async fn truth(&self) -> Value {
        stats::testing::expected_stats(&self.db.pool).await.unwrap()
    }

    /// The candy log PostgreSQL implies: every passenger under 12, newest first.
    pub async fn candy_truth(&self) -> Vec<String> {
        let rows: Vec<(uuid::Uuid, String)> = sqlx::query_as(
            "SELECT id, passenger_name FROM bookings WHERE passenger_age < 12 ORDER BY created_at DESC, id DESC",
        )
        .fetch_all(&self.db.pool)
        .await
        .unwrap();
        rows.iter().map(|(id, name)| stats::keys::candy_entry(id, name)).collect()
    }

    pub async fn candy_log(&self) -> Vec<String> {
        let s = self.stats.json(&json!({"destinations": 1, "candy_log": 100}), None).await.expect(200).json();
        serde_json::from_value(s["candy_log"].clone()).unwrap()
    }

    /// One reconciliation, as a PingSource tick (or, `force`, an operator's rebuild).
    pub async fn reconcile(&self, force: bool) {
        let ty = if force { "skybook.stats.rebuild" } else { "dev.knative.sources.ping" };
        let id = uuid::Uuid::now_v7().to_string();
        self.reconcile.binary(ty, &id, &json!({})).await.expect(202);
    }

    /// Rebuilds for `reason` so far (process-wide: compare before and after).
    pub async fn rebuilds(&self, reason: &str) -> f64 {
        self.metric(&format!("skybook_stats_rebuilds_total{{reason=\"{reason}\"}}")).await.unwrap_or(0.0)
    }

    /// Rebuilds for any reason so far.
    pub async fn all_rebuilds(&self) -> f64 {
        let mut total = 0.0;
        for reason in ["requested", "lost", "broken", "inconsistent"] {
            total += self.rebuilds(reason).await;
        }
        total
    }

    /// A line of reconcile-stats' /metrics, by its name and labels.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let text = self.reconcile.get("/metrics").await.expect(200).body;
        let text = String::from_utf8_lossy(&text).into_owned();
        text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    }
}
