//! A world to book in: destinations and flights made through their own
//! functions, and the bookings functions served against the same database
//! and the same flights read model (this test's own Redis database).

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use shared::testing::{TestApp, TestDb, TestRedis, TestResponse};

pub const CREATE: &str = "skybook.booking.create";
pub const CANCEL: &str = "skybook.booking.cancel";

pub struct World {
    pub db: TestDb,
    /// The flights read model create-booking quotes from.
    pub redis: TestRedis,
    destinations: TestApp,
    flights: TestApp,
    pub book: TestApp,
    pub cancel: TestApp,
}

impl World {
    /// Bookings publish to `sink_url` (a [`shared::testing::TestSink`] or a closed port).
    pub async fn new(sink_url: &str) -> World {
        let db = TestDb::new().await;
        let redis = TestRedis::new().await;
        let url = db.url();
        let settings = [("database_url", url.as_str()), ("k_sink", sink_url), ("redis_url", &redis.url)];
        World {
            destinations: TestApp::spawn(destinations::commands::create_destination::function(), &db).await,
            flights: TestApp::spawn(flights::commands::create_flight::function(), &db).await,
            book: TestApp::spawn_with(bookings::commands::create_booking::function(), &settings).await,
            cancel: TestApp::spawn_with(bookings::commands::cancel_booking::function(), &settings).await,
            db,
            redis,
        }
    }

    pub async fn destination(&self, name: &str, tax: &str, promotion: bool, pets: bool) -> String {
        let data = json!({"name": name, "tax_amount": tax, "is_promotion": promotion, "allows_pets": pets});
        self.destinations.json(&data, None).await.expect(200).json()["id"].as_str().unwrap().to_owned()
    }

    /// A flight of `capacity` seats, in the read model as project-flights
    /// keeps it: create-booking books it in one statement.
    pub async fn flight(&self, destination_id: &str, base: &str, capacity: i64) -> String {
        let id = self.unquoted_flight(destination_id, base, capacity).await;
        self.quote(&id).await;
        id
    }

    /// Puts the flight's row as it is now in the read model (a quote that
    /// goes stale when the row changes), as project-flights does.
    pub async fn quote(&self, flight_id: &str) {
        let sql = format!("{} WHERE f.id = $1::uuid", flights::model::SELECT_FLIGHT);
        let row: flights::model::FlightRow =
            sqlx::query_as(&sql).bind(flight_id).fetch_one(&self.db.pool).await.unwrap();
        let settings = shared::config::Settings::with_overrides(&[("redis_url", &self.redis.url)]).unwrap();
        let mut redis = shared::redis::lazy_connection(&settings).unwrap();
        assert_eq!(flights::read_model::store(&mut redis, &[row]).await.unwrap(), 1);
    }

    /// A flight the read model does not hold (yet): create-booking books it
    /// in its transaction, under the flight's lock.
    pub async fn unquoted_flight(&self, destination_id: &str, base: &str, capacity: i64) -> String {
        let number = format!("SK{}", rand_digits());
        let data = json!({"destination_id": destination_id, "flight_number": number, "base_price": base,
                          "departure_at": Utc::now() + Duration::days(30), "capacity": capacity});
        let id = self.flights.json(&data, None).await.expect(200).json()["id"].as_str().unwrap().to_owned();
        // These tests follow the bookings' events; the flight's own
        // (skybook.flight.created, the flights slice's tests) is set aside.
        sqlx::query("DELETE FROM outbox WHERE type = $1 AND subject = $2")
            .bind(domain::events::FLIGHT_CREATED)
            .bind(&id)
            .execute(&self.db.pool)
            .await
            .unwrap();
        id
    }

    pub async fn book(&self, flight_id: &str, name: &str, age: i64, pet: bool) -> TestResponse {
        let data =
            json!({"flight_id": flight_id, "passenger_name": name, "passenger_age": age, "has_pet": pet});
        self.book.json(&data, None).await
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&self.db.pool).await.unwrap()
    }

    pub async fn seats_taken(&self, flight_id: &str) -> i32 {
        sqlx::query_scalar("SELECT seats_taken FROM flights WHERE id = $1::uuid")
            .bind(flight_id)
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    /// A destination and a flight of `capacity` seats to it, booked `bookings`
    /// times while the sink is down: the events wait in the outbox.
    pub async fn backlog(sink_url: &str, capacity: i64, bookings: usize) -> (World, String) {
        let w = World::new(sink_url).await;
        let lima = w.destination("Lima", "1", false, true).await;
        let flight = w.flight(&lima, "100", capacity).await;
        for i in 0..bookings {
            w.book(&flight, &format!("P{i}"), 30, false).await.expect(200);
        }
        (w, flight)
    }

    /// relay-outbox on this world's database, sending to `sink`, with these settings.
    pub async fn relay(&self, sink: &str, settings: &[(&str, &str)]) -> TestApp {
        let url = self.db.url();
        let mut all = vec![("database_url", url.as_str()), ("k_sink", sink)];
        all.extend_from_slice(settings);
        TestApp::spawn_with(outbox::consumers::relay_outbox::function(), &all).await
    }
}

fn rand_digits() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32 % 1_000_000
}

pub fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_owned()).collect()
}
