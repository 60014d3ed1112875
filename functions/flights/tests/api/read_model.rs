//! The flights read model: kept by project-flights from the events, rebuilt
//! and checked by reconcile-flights, and read by get-flight and list-flights
//! exactly as PostgreSQL would answer.

use chrono::{DateTime, Utc};
use flights::consumers::{project_flights, reconcile_flights};
use flights::queries::{get_flight, list_flights};
use flights::read_model::keys;
use serde_json::{Value, json};
use shared::testing::TestApp;

use crate::helpers::{Fixture, in_days};

/// The model's keepers and readers on one fixture.
struct Model {
    project: TestApp,
    reconcile: TestApp,
    get: TestApp,
    list: TestApp,
}

impl Model {
    async fn new(fx: &Fixture) -> Model {
        Model {
            project: fx.spawn(project_flights::function()).await,
            reconcile: fx.spawn(reconcile_flights::function()).await,
            get: fx.spawn(get_flight::function()).await,
            list: fx.spawn(list_flights::function()).await,
        }
    }

    async fn tick(&self) {
        self.reconcile.binary(shared::cloudevent::PING, &uuid(), &json!("tick")).await.expect(202);
    }

    async fn booked(&self, flight: &str) {
        let booking = json!({"id": uuid(), "flight_id": flight});
        self.project.binary(domain::events::BOOKING_CREATED, &uuid(), &booking).await.expect(202);
    }

    /// A flight as get-flight answers it.
    async fn flight(&self, id: &str) -> Value {
        self.get.json(&json!({"id": id}), None).await.expect(200).json()
    }

    async fn seats_left(&self, flight: &str) -> i64 {
        self.flight(flight).await["seats_left"].as_i64().unwrap()
    }

    /// Every page of a listing, with `query`'s filters, two at a time.
    async fn every_page(&self, query: &Value) -> Vec<Value> {
        let (mut seen, mut cursor) = (Vec::new(), None::<String>);
        loop {
            let mut query = query.clone();
            query["limit"] = json!(2);
            query["cursor"] = json!(cursor);
            let page = self.list.json(&query, None).await.expect(200).json();
            seen.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return seen,
            }
        }
    }
}

/// The read model's Redis, as the functions reach it, for what a test does
/// to the model directly.
fn model_redis(fx: &Fixture) -> shared::redis::Redis {
    let settings = shared::config::Settings::with_overrides(&[("redis_url", &fx.redis.url)]).unwrap();
    shared::redis::lazy_connection(&settings).unwrap()
}

/// A flight scheduled through create-flight, by its id.
async fn scheduled(fx: &Fixture, destination: &str, number: &str, base: &str, when: DateTime<Utc>) -> String {
    fx.flight(destination, number, base, when).await["id"].as_str().unwrap().to_owned()
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A seat taken behind the model's back, as a booking's transaction takes it.
async fn take_seat(fx: &Fixture, flight: &str) {
    sqlx::query(
        "UPDATE flights SET seats_taken = seats_taken + 1, version = version + 1 WHERE id = $1::uuid",
    )
    .bind(flight)
    .execute(&fx.db.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_read_model_lists_exactly_as_postgresql_does() {
    let fx = Fixture::new().await;
    let model = Model::new(&fx).await;
    let cancun = fx.destination("Cancún", "50", true).await;
    let lima = fx.destination("Lima", "0.01", false).await;
    let tie = in_days(2);
    for (destination, number, base, when) in [
        (&cancun, "C1", "1000", in_days(1)), // 950.00
        (&cancun, "C2", "100.05", tie),      // 140.05
        (&lima, "L1", "949.99", tie),        // 950.00
        (&lima, "L2", "2000", in_days(20)),  // 2000.01
        (&lima, "L3", "10", tie),            // 10.01
        (&cancun, "C3", "3000", in_days(9)), // 2750.00
    ] {
        fx.flight(destination, number, base, when).await;
    }
    let queries = [
        json!({}),
        json!({"destination_id": cancun}),
        json!({"destination_id": lima}),
        json!({"max_price": "950.00"}),
        json!({"max_price": "949.99"}),
        json!({"max_price": "140.05", "destination_id": cancun}),
        json!({"departs_after": in_days(2), "departs_before": in_days(10)}),
        json!({"departs_before": tie}),
        // The model reads from the minute this falls in: what leaves
        // before it in that minute (the three at `tie`) stays out.
        json!({"departs_after": tie + chrono::TimeDelta::milliseconds(1)}),
    ];
    // Before the first tick the model is not whole: PostgreSQL answers.
    let mut from_database = Vec::new();
    for query in &queries {
        from_database.push(model.every_page(query).await);
    }
    assert_eq!(from_database[0].len(), 6);
    assert_eq!(from_database[8].len(), 2);
    let mut got_from_database = Vec::new();
    for flight in &from_database[0] {
        got_from_database.push(model.flight(flight["id"].as_str().unwrap()).await);
    }
    assert_eq!(got_from_database, from_database[0], "get-flight answers as list-flights lists");
    model.tick().await;
    for (query, expected) in queries.iter().zip(&from_database) {
        assert_eq!(&model.every_page(query).await, expected, "{query}");
    }
    for expected in &got_from_database {
        assert_eq!(&model.flight(expected["id"].as_str().unwrap()).await, expected);
    }
    // And it is the model answering: a seat taken behind its back is not
    // seen until the event for it arrives.
    let c1 = from_database[0][0]["id"].as_str().unwrap().to_owned();
    take_seat(&fx, &c1).await;
    assert_eq!(model.seats_left(&c1).await, 50);
    model.booked(&c1).await;
    assert_eq!(model.seats_left(&c1).await, 49);
    assert_eq!(model.every_page(&json!({})).await[0]["seats_left"], 49);
}

#[tokio::test]
async fn the_newest_state_stays_whatever_the_order_or_number_of_deliveries() {
    let fx = Fixture::new().await;
    let model = Model::new(&fx).await;
    let oslo = fx.destination("Oslo", "10", false).await;
    let flight = scheduled(&fx, &oslo, "OS1", "100", in_days(3)).await;
    model.tick().await;
    // Twenty bookings at once, each projected as it commits, some twice.
    let mut bookings = tokio::task::JoinSet::new();
    for n in 0..20 {
        let (pool, flight, project) = (fx.db.pool.clone(), flight.clone(), model.project.url.clone());
        bookings.spawn(async move {
            sqlx::query(
                "UPDATE flights SET seats_taken = seats_taken + 1, version = version + 1 WHERE id = $1::uuid",
            )
            .bind(&flight)
            .execute(&pool)
            .await
            .unwrap();
            for _ in 0..(1 + n % 2) {
                let sent = reqwest::Client::new()
                    .post(&project)
                    .header("ce-specversion", "1.0")
                    .header("ce-id", uuid())
                    .header("ce-source", "/tests")
                    .header("ce-type", domain::events::BOOKING_CREATED)
                    .header("content-type", "application/json")
                    .body(json!({"id": uuid(), "flight_id": flight}).to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(sent.status(), 202);
            }
        });
    }
    while let Some(done) = bookings.join_next().await {
        done.unwrap();
    }
    assert_eq!(model.seats_left(&flight).await, 30);
    // An older state offered late is refused: the model keeps the newest.
    let mut redis = model_redis(&fx);
    let id: uuid::Uuid = flight.parse().unwrap();
    let row = || async {
        let sql = format!("{} WHERE f.id = $1", flights::model::SELECT_FLIGHT);
        sqlx::query_as::<_, flights::model::FlightRow>(&sql).bind(id).fetch_one(&fx.db.pool).await.unwrap()
    };
    let mut older = row().await;
    older.version -= 5;
    older.seats_taken = 3;
    assert_eq!(flights::read_model::store(&mut redis, &[older]).await.unwrap(), 0);
    // A row newer in itself but read with its destination's older terms is
    // no newer as a whole: what it shows depends on both.
    let mut half_older = row().await;
    half_older.version += 1;
    half_older.destination_version -= 1;
    half_older.seats_taken = 3;
    assert_eq!(flights::read_model::store(&mut redis, &[half_older]).await.unwrap(), 0);
    assert_eq!(model.seats_left(&flight).await, 30);
    let mut newer = row().await;
    newer.destination_version += 1;
    assert_eq!(flights::read_model::store(&mut redis, &[newer]).await.unwrap(), 1);
}

#[tokio::test]
async fn a_destination_update_reprices_its_flights() {
    let fx = Fixture::new().await;
    let model = Model::new(&fx).await;
    let rome = fx.destination("Rome", "10", false).await;
    let oslo = fx.destination("Oslo", "10", false).await;
    let flight = scheduled(&fx, &rome, "RM1", "100", in_days(3)).await;
    let later = scheduled(&fx, &rome, "RM2", "200", in_days(4)).await;
    let elsewhere = scheduled(&fx, &oslo, "OS1", "100", in_days(3)).await;
    model.tick().await;
    assert_eq!(model.flight(&flight).await["price"]["total"], "110.00");
    sqlx::query("UPDATE destinations SET tax_amount = 25, is_promotion = true, version = version + 1 WHERE id = $1::uuid")
        .bind(&rome)
        .execute(&fx.db.pool)
        .await
        .unwrap();
    assert_eq!(model.flight(&flight).await["price"]["total"], "110.00", "not seen before its event");
    let destination = json!({"id": rome, "name": "Rome"});
    model.project.binary(domain::events::DESTINATION_UPDATED, &uuid(), &destination).await.expect(202);
    assert_eq!(model.flight(&flight).await["price"]["total"], "115.00");
    assert_eq!(model.flight(&later).await["price"]["total"], "205.00", "every flight to it");
    assert_eq!(model.flight(&elsewhere).await["price"]["total"], "110.00", "and none elsewhere");
    let under = model.every_page(&json!({"max_price": "115.00"})).await;
    let mut totals: Vec<&str> = under.iter().map(|f| f["price"]["total"].as_str().unwrap()).collect();
    totals.sort();
    assert_eq!(totals, ["110.00", "115.00"], "Rome's first at its new price, and Oslo's");
}

#[tokio::test]
async fn a_lost_model_is_rebuilt_and_a_lost_event_healed_by_the_sweep() {
    let fx = Fixture::new().await;
    let model = Model::new(&fx).await;
    let nice = fx.destination("Nice", "0", false).await;
    let flight = scheduled(&fx, &nice, "NC1", "80", in_days(5)).await;
    // Departed a day ago: history, which the model does not keep.
    sqlx::query(
        "INSERT INTO flights (id, destination_id, flight_number, base_price, departure_at, capacity)
         VALUES (gen_random_uuid(), $1::uuid, 'NC0', 80, now() - interval '1 day', 10)",
    )
    .bind(&nice)
    .execute(&fx.db.pool)
    .await
    .unwrap();
    model.tick().await;
    let mut redis = fx.redis.conn().await;
    let held: i64 = redis::cmd("ZCARD").arg(keys::LISTING).query_async(&mut redis).await.unwrap();
    assert_eq!(held, 1, "only the upcoming flight");
    // An event that never arrives: the next sweep heals it.
    take_seat(&fx, &flight).await;
    assert_eq!(model.seats_left(&flight).await, 50);
    model.tick().await;
    assert_eq!(model.seats_left(&flight).await, 49);
    let listed = model.every_page(&json!({"destination_id": nice})).await;
    assert_eq!(listed.len(), 1, "listed once, with its new seats: {listed:?}");
    assert_eq!(listed[0]["seats_left"], 49);
    // Redis loses everything: PostgreSQL answers until the next tick rebuilds it.
    let _: () = redis::cmd("FLUSHDB").query_async(&mut redis).await.unwrap();
    take_seat(&fx, &flight).await;
    assert_eq!(model.seats_left(&flight).await, 48, "a miss reads PostgreSQL");
    assert_eq!(model.every_page(&json!({})).await.len(), 1);
    model.tick().await;
    let ready: bool = redis::cmd("EXISTS").arg(keys::READY).query_async(&mut redis).await.unwrap();
    assert!(ready);
    assert_eq!(model.every_page(&json!({})).await[0]["seats_left"], 48);
    // A reply lost on its own (its versions still held) is kept again by the sweep.
    let reply = keys::reply(&flight.parse().unwrap());
    let _: () = redis::cmd("DEL").arg(&reply).query_async(&mut redis).await.unwrap();
    model.tick().await;
    let kept: bool = redis::cmd("EXISTS").arg(&reply).query_async(&mut redis).await.unwrap();
    assert!(kept, "the sweep keeps a flight whose reply is missing");
    // History is still there, from PostgreSQL.
    let past = model.every_page(&json!({"departs_after": in_days(-3)})).await;
    assert_eq!(past.len(), 2);
}

#[tokio::test]
async fn a_flight_moved_to_another_departure_is_listed_once_in_its_new_place() {
    let fx = Fixture::new().await;
    let model = Model::new(&fx).await;
    let bern = fx.destination("Bern", "0", false).await;
    let moved = scheduled(&fx, &bern, "BE1", "100", in_days(2)).await;
    let stays = scheduled(&fx, &bern, "BE2", "100", in_days(3)).await;
    model.tick().await;
    sqlx::query("UPDATE flights SET departure_at = $2, version = version + 1 WHERE id = $1::uuid")
        .bind(&moved)
        .bind(in_days(4))
        .execute(&fx.db.pool)
        .await
        .unwrap();
    model.booked(&moved).await;
    for query in [json!({}), json!({"destination_id": bern})] {
        let listed: Vec<Value> = model.every_page(&query).await.iter().map(|f| f["id"].clone()).collect();
        assert_eq!(listed, [json!(stays), json!(moved)], "{query}");
    }
}

#[tokio::test]
async fn a_departed_flight_leaves_every_key_of_the_model() {
    let fx = Fixture::new().await;
    let model = Model::new(&fx).await;
    let lyon = fx.destination("Lyon", "0", false).await;
    let leaving = scheduled(&fx, &lyon, "LY1", "100", in_days(1)).await;
    let staying = scheduled(&fx, &lyon, "LY2", "100", in_days(3)).await;
    model.tick().await;
    let mut redis = model_redis(&fx);
    // As the sweep trims once the first has been gone half a day.
    assert_eq!(flights::read_model::trim(&mut redis, in_days(2)).await.unwrap(), 1);
    let mut conn = fx.redis.conn().await;
    let id: uuid::Uuid = leaving.parse().unwrap();
    for key in [keys::reply(&id), keys::versions(&id)] {
        let held: bool = redis::cmd("EXISTS").arg(&key).query_async(&mut conn).await.unwrap();
        assert!(!held, "{key} outlived its flight");
    }
    for listing in [keys::LISTING.to_owned(), keys::listing_to(&lyon.parse().unwrap())] {
        let entries: Vec<String> =
            redis::cmd("ZRANGE").arg(&listing).arg(0).arg(-1).query_async(&mut conn).await.unwrap();
        assert_eq!(entries.len(), 1, "{listing}: {entries:?}");
        assert!(entries[0].contains(&staying), "{listing} keeps the flight still to leave");
    }
    assert_eq!(model.every_page(&json!({})).await.len(), 1);
}
