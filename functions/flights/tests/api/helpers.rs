//! Seeding through the real functions: destinations and flights made over HTTP.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use shared::testing::{TestApp, TestDb, TestRedis};

pub struct Fixture {
    pub db: TestDb,
    /// The flights read model's Redis, this test's own.
    pub redis: TestRedis,
    pub destinations: TestApp,
    pub flights: TestApp,
}

impl Fixture {
    pub async fn new() -> Fixture {
        let db = TestDb::new().await;
        let redis = TestRedis::new().await;
        let destinations = TestApp::spawn(destinations::commands::create_destination::function(), &db).await;
        let flights = TestApp::spawn(flights::commands::create_flight::function(), &db).await;
        Fixture { db, redis, destinations, flights }
    }

    /// Serves `function` on this fixture's database and Redis.
    pub async fn spawn(&self, function: shared::Function) -> TestApp {
        TestApp::spawn_with(function, &[("database_url", &self.db.url()), ("redis_url", &self.redis.url)])
            .await
    }

    pub async fn destination(&self, name: &str, tax: &str, promotion: bool) -> String {
        let reply = self
            .destinations
            .json(
                &json!({"name": name, "tax_amount": tax, "is_promotion": promotion, "allows_pets": true}),
                None,
            )
            .await
            .expect(200);
        reply.json()["id"].as_str().unwrap().to_owned()
    }

    pub async fn flight(
        &self,
        destination_id: &str,
        number: &str,
        base: &str,
        departure: DateTime<Utc>,
    ) -> Value {
        self.flights
            .json(
                &json!({"destination_id": destination_id, "flight_number": number, "base_price": base,
                        "departure_at": departure, "capacity": 50}),
                None,
            )
            .await
            .expect(200)
            .json()
    }

    pub async fn flight_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM flights").fetch_one(&self.db.pool).await.unwrap()
    }
}

pub fn in_days(days: i64) -> DateTime<Utc> {
    Utc::now() + Duration::days(days)
}
