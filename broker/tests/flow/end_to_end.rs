//! Bookings over HTTP, through the broker on RabbitMQ, into Redis: the whole
//! flow, with the stats function a process of its own that the test kills.

use redis::AsyncCommands;
use serde_json::{Value, json};
use shared::testing::{ReadResponse, TestApp, TestDb, TestProcess, TestRedis, TestSink, binary};
use stats::keys;

use crate::helpers::{TestBroker, eventually};

struct Flow {
    db: TestDb,
    redis: TestRedis,
    dead_letters: TestSink,
    stats: TestProcess,
    _broker: TestBroker,
    destinations: TestApp,
    flights: TestApp,
    book: TestApp,
    cancel: TestApp,
}

impl Flow {
    async fn start(retry: u32, backoff: &str) -> Flow {
        let db = TestDb::new().await;
        let redis = TestRedis::new().await;
        let dead_letters = TestSink::start().await;
        let stats =
            TestProcess::start(binary("record-booking-stats"), &[], &[("REDIS_URL", &redis.url)]).await;
        let broker = TestBroker::start(
            retry,
            backoff,
            "",
            &[("record-booking-stats", &stats.url), ("store-dead-letter", &dead_letters.url)],
        )
        .await;
        let url = db.url();
        let emitting = [("database_url", url.as_str()), ("k_sink", broker.ingress.as_str())];
        Flow {
            destinations: TestApp::spawn(destinations::commands::create_destination::function(), &db).await,
            flights: TestApp::spawn_with(flights::commands::create_flight::function(), &emitting).await,
            book: TestApp::spawn_with(bookings::commands::create_booking::function(), &emitting).await,
            cancel: TestApp::spawn_with(bookings::commands::cancel_booking::function(), &emitting).await,
            db,
            redis,
            dead_letters,
            stats,
            _broker: broker,
        }
    }

    async fn flight(
        &self,
        destination: &str,
        tax: &str,
        promotion: bool,
        number: &str,
        capacity: i64,
    ) -> String {
        let d = self
            .destinations
            .json(&json!({"name": destination, "tax_amount": tax, "is_promotion": promotion, "allows_pets": true}), None)
            .await;
        let destination_id = if d.status == 200 {
            d.json()["id"].as_str().unwrap().to_owned()
        } else {
            sqlx::query_scalar::<_, String>("SELECT id::text FROM destinations WHERE name = $1")
                .bind(destination)
                .fetch_one(&self.db.pool)
                .await
                .unwrap()
        };
        let data = json!({"destination_id": destination_id, "flight_number": number, "base_price": "1000",
                          "departure_at": "2099-06-01T10:00:00Z", "capacity": capacity});
        self.flights.json(&data, None).await.expect(200).json()["id"].as_str().unwrap().to_owned()
    }

    async fn book(&self, flight: &str, name: &str, age: i64, pet: bool) -> Value {
        let data = json!({"flight_id": flight, "passenger_name": name, "passenger_age": age, "has_pet": pet});
        self.book.json(&data, None).await.expect(200).json()
    }

    async fn int(&self, key: &str) -> i64 {
        let mut conn = self.redis.conn().await;
        conn.get::<_, Option<i64>>(key).await.unwrap().unwrap_or(0)
    }

    /// A destination's stats, found by its name in PostgreSQL (they are kept by id).
    async fn destination(&self, name: &str) -> (i64, i64) {
        let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM destinations WHERE name = $1")
            .bind(name)
            .fetch_one(&self.db.pool)
            .await
            .unwrap();
        let mut conn = self.redis.conn().await;
        let (bookings, cents): (Option<i64>, Option<i64>) = redis::cmd("HMGET")
            .arg(keys::destination(&id))
            .arg("bookings")
            .arg("revenue_cents")
            .query_async(&mut conn)
            .await
            .unwrap();
        (bookings.unwrap_or(0), cents.unwrap_or(0))
    }
}

#[tokio::test]
async fn bookings_made_over_http_reach_every_stats_key() {
    let flow = Flow::start(5, "PT0.05S").await;
    let cancun = flow.flight("Cancún", "50", true, "CUN1", 10).await;
    let lima = flow.flight("Lima", "0", false, "LIM1", 10).await;

    let adult = flow.book(&cancun, "Ana", 34, true).await;
    let child = flow.book(&cancun, "Nino", 8, false).await;
    let other = flow.book(&lima, "Eva", 70, false).await;
    assert_eq!(adult["price"]["total"], "950.00");

    eventually(20, "three bookings in the stats", || async { flow.int(keys::TOTAL_BOOKINGS).await == 3 })
        .await;
    assert_eq!(flow.int(keys::TOTAL_REVENUE_CENTS).await, 95_000 + 95_000 + 100_000);
    assert_eq!(flow.int(keys::PET_BOOKINGS).await, 1);
    assert_eq!(flow.int(keys::TOTAL_CANDY_COST_CENTS).await, 500);
    assert_eq!(flow.int(keys::TOTAL_INFANT_COUNT).await, 1);
    assert_eq!(flow.destination("Cancún").await, (2, 190_000));
    assert_eq!(flow.destination("Lima").await, (1, 100_000));
    let mut conn = flow.redis.conn().await;
    let log: Vec<String> = conn.lrange(keys::CANDY_LOG, 0, -1).await.unwrap();
    assert_eq!(log, [format!("Reserva {}: Dulce entregado a Nino", child["id"].as_str().unwrap())]);

    // A cancellation reverses revenue and popularity.
    flow.cancel.json(&json!({"id": other["id"]}), None).await.expect(200);
    flow.cancel.json(&json!({"id": adult["id"]}), None).await.expect(200);
    eventually(20, "the cancellations", || async { flow.int(keys::TOTAL_BOOKINGS).await == 1 }).await;
    assert_eq!(flow.int(keys::TOTAL_REVENUE_CENTS).await, 95_000);
    assert_eq!(flow.int(keys::PET_BOOKINGS).await, 0);
    assert_eq!(flow.destination("Cancún").await, (1, 95_000));
    assert_eq!(flow.destination("Lima").await, (0, 0));
    assert!(flow.dead_letters.received().is_empty());
    // Sent events are marked published together, a few times a second.
    eventually(5, "every event marked published", || async {
        let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&flow.db.pool)
            .await
            .unwrap();
        unsent == 0
    })
    .await;
}

#[tokio::test]
async fn two_thousand_bookings_are_counted_once_each_across_stats_crashes() {
    let mut flow = Flow::start(12, "PT0.05S").await;
    let flights = [
        flow.flight("Cancún", "50", true, "CUN1", 1000).await,
        flow.flight("Cancún", "50", true, "CUN2", 1000).await,
        flow.flight("Lima", "12.34", false, "LIM1", 1000).await,
    ];
    let total = 2000;
    let (client, url) = (flow.book.client.clone(), flow.book.url.clone());
    let booking = tokio::spawn(async move {
        let mut in_flight = tokio::task::JoinSet::new();
        for i in 0..total {
            if in_flight.len() >= 16 {
                in_flight.join_next().await.unwrap().unwrap();
            }
            let (client, url) = (client.clone(), url.clone());
            let data = json!({"flight_id": flights[i % 3], "passenger_name": format!("P{i}"),
                              "passenger_age": i % 90, "has_pet": i % 7 == 0});
            in_flight.spawn(async move {
                let reply = client.post(url).json(&data).send().await.read().await;
                assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
            });
        }
        while let Some(done) = in_flight.join_next().await {
            done.unwrap();
        }
    });

    // Crash the stats function twice while events flow, and bring it back.
    for at in [total as i64 / 3, 2 * total as i64 / 3] {
        eventually(120, "bookings to pass the crash point", || async {
            flow.int(keys::TOTAL_BOOKINGS).await >= at
        })
        .await;
        flow.stats.kill();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        flow.stats.restart().await;
    }
    booking.await.unwrap();

    eventually(120, "every booking in the stats", || async {
        flow.int(keys::TOTAL_BOOKINGS).await >= total as i64
    })
    .await;
    let (count, revenue_cents, pets): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), (sum(total) * 100)::bigint, count(*) FILTER (WHERE has_pet) FROM bookings WHERE status = 'confirmed'",
    )
    .fetch_one(&flow.db.pool)
    .await
    .unwrap();
    assert_eq!(flow.int(keys::TOTAL_BOOKINGS).await, count);
    assert_eq!(flow.int(keys::TOTAL_REVENUE_CENTS).await, revenue_cents);
    assert_eq!(flow.int(keys::PET_BOOKINGS).await, pets);
    let children: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings WHERE passenger_age < 12")
        .fetch_one(&flow.db.pool)
        .await
        .unwrap();
    assert_eq!(flow.int(keys::TOTAL_INFANT_COUNT).await, children);
    assert_eq!(flow.int(keys::TOTAL_CANDY_COST_CENTS).await, children * 500);
    let (cancun, _) = flow.destination("Cancún").await;
    let (lima, _) = flow.destination("Lima").await;
    assert_eq!(cancun + lima, count);
    assert!(flow.dead_letters.received().is_empty(), "events were dead-lettered");
}
