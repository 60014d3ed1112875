use redis::AsyncCommands;
use serde_json::{Value, json};
use shared::testing::{ReadResponse, TcpProxy, TestApp, TestRedis, binary_event, redis_addr};
use stats::consumers::record_booking_stats;
use stats::keys;
use uuid::Uuid;

const CREATED: &str = "skybook.booking.created";
const CANCELLED: &str = "skybook.booking.cancelled";

/// A destination's id in these tests: derived from its name.
fn id_of(destination: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, destination.as_bytes())
}

fn booking(id: &str, destination: &str, name: &str, age: i64, pet: bool, total: &str) -> Value {
    json!({
        "id": id, "status": "confirmed", "destination_id": id_of(destination),
        "destination_name": destination, "passenger_name": name,
        "passenger_age": age, "has_pet": pet, "flight_number": "SK1",
        "price": {"base_price": total, "discount": "0.00", "tax": "0.00", "total": total}
    })
}

/// Delivers an event numbered after its id (`e-7` is the stream's 7th).
async fn deliver(app: &TestApp, ty: &str, id: &str, data: &Value) -> u16 {
    let seq: i64 = id.trim_start_matches("e-").parse().unwrap();
    binary_event(app.post(), ty, "/skybook/bookings", id, data)
        .header("ce-sequence", shared::cloudevent::sequence::format(seq))
        .send()
        .await
        .read()
        .await
        .status
}

async fn destination(conn: &mut redis::aio::MultiplexedConnection, name: &str) -> (i64, i64) {
    redis::cmd("HMGET")
        .arg(keys::destination(&id_of(name)))
        .arg("bookings")
        .arg("revenue_cents")
        .query_async(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn each_event_is_applied_once_with_every_key_of_the_contract() {
    let redis = TestRedis::new().await;
    let app = TestApp::spawn_with(record_booking_stats::function(), &[("redis_url", &redis.url)]).await;
    let adult = booking("0191d9d2-0000-7000-8000-000000000001", "Cancún", "Ana", 34, true, "950.00");
    let child = booking("0191d9d2-0000-7000-8000-000000000002", "Cancún", "Nino", 8, false, "950.00");
    let lima = booking("0191d9d2-0000-7000-8000-000000000003", "Lima", "Eva", 60, false, "100.05");

    for _ in 0..3 {
        assert_eq!(deliver(&app, CREATED, "e-1", &adult).await, 202);
    }
    assert_eq!(deliver(&app, CREATED, "e-2", &child).await, 202);
    assert_eq!(deliver(&app, CREATED, "e-3", &lima).await, 202);

    let mut conn = redis.conn().await;
    let reader = conn.clone();
    let get = |key: &'static str| {
        let mut conn = reader.clone();
        async move { conn.get::<_, Option<i64>>(key).await.unwrap() }
    };
    assert_eq!(get(keys::TOTAL_REVENUE_CENTS).await, Some(200_005));
    assert_eq!(get(keys::TOTAL_BOOKINGS).await, Some(3));
    assert_eq!(get(keys::PET_BOOKINGS).await, Some(1));
    assert_eq!(get(keys::TOTAL_CANDY_COST_CENTS).await, Some(500));
    assert_eq!(get(keys::TOTAL_INFANT_COUNT).await, Some(1));
    let cancun = destination(&mut conn, "Cancún").await;
    assert_eq!(cancun, (2, 190_000));
    let log: Vec<String> = conn.lrange(keys::CANDY_LOG, 0, -1).await.unwrap();
    assert_eq!(log, ["Reserva 0191d9d2-0000-7000-8000-000000000002: Dulce entregado a Nino"]);
    let ranking: Vec<(String, i64)> = redis::cmd("ZRANGE")
        .arg(keys::POPULARITY)
        .arg(0)
        .arg(-1)
        .arg("REV")
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(ranking, [(id_of("Cancún").to_string(), 2), (id_of("Lima").to_string(), 1)]);
    let name: Option<String> = conn.hget(keys::destination(&id_of("Cancún")), "name").await.unwrap();
    assert_eq!(name.as_deref(), Some("Cancún"));

    // A cancellation reverses revenue and popularity, once, however often it comes.
    for _ in 0..2 {
        assert_eq!(deliver(&app, CANCELLED, "e-4", &adult).await, 202);
    }
    assert_eq!(get(keys::TOTAL_REVENUE_CENTS).await, Some(105_005));
    assert_eq!(get(keys::TOTAL_BOOKINGS).await, Some(2));
    assert_eq!(get(keys::PET_BOOKINGS).await, Some(0));
    let cancun = destination(&mut conn, "Cancún").await;
    assert_eq!(cancun, (1, 95_000));
    assert_eq!(get(keys::TOTAL_CANDY_COST_CENTS).await, Some(500), "candy handed out stays handed out");
}

#[tokio::test]
async fn bad_events_are_refused_without_a_retryable_status() {
    let redis = TestRedis::new().await;
    let app = TestApp::spawn_with(record_booking_stats::function(), &[("redis_url", &redis.url)]).await;
    let other = app.binary("skybook.flight.created", "x-1", &json!({})).await.expect(400);
    assert_eq!(other.error_code(), "wrong_event_type");
    let broken = app.binary(CREATED, "x-2", &json!({"id": "b", "passenger_age": "old"})).await.expect(400);
    assert_eq!(broken.error_code(), "invalid_data");
    let data = booking("0191d9d2-0000-7000-8000-000000000001", "Lima", "Ana", 34, false, "1.00");
    let unnumbered = app.binary(CREATED, "x-3", &data).await.expect(400);
    assert_eq!(unnumbered.error_code(), "missing_sequence");
    let misnumbered = binary_event(app.post(), CREATED, "/skybook/bookings", "x-4", &data)
        .header("ce-sequence", "-1")
        .send()
        .await
        .read()
        .await;
    assert_eq!(misnumbered.expect(400).error_code(), "missing_sequence");
    let mut conn = redis.conn().await;
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test]
async fn redis_down_is_503_so_the_broker_retries_and_the_retry_applies() {
    let redis = TestRedis::new().await;
    let proxy = TcpProxy::start(redis_addr()).await;
    let index = redis.url.rsplit('/').next().unwrap();
    let via_proxy = format!("redis://{}/{index}", proxy.addr);
    let app = TestApp::spawn_with(record_booking_stats::function(), &[("redis_url", &via_proxy)]).await;
    let event = booking("0191d9d2-0000-7000-8000-000000000009", "Quito", "Ana", 30, false, "10.00");

    proxy.cut();
    assert_eq!(deliver(&app, CREATED, "e-9", &event).await, 503);
    // The process stays ready; the outage is reported where it belongs.
    assert_eq!(app.get("/health/readiness").await.status, 200);
    let dependencies = app.get("/health/dependencies").await.expect(503).json();
    assert_eq!(dependencies["redis"]["up"], false, "{dependencies}");
    proxy.restore();
    let mut status = 0;
    for _ in 0..50 {
        status = deliver(&app, CREATED, "e-9", &event).await;
        if status == 202 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 202);
    assert_eq!(app.get("/health/dependencies").await.expect(200).json()["redis"]["up"], true);
    let mut conn = redis.conn().await;
    let bookings: i64 = conn.get(keys::TOTAL_BOOKINGS).await.unwrap();
    assert_eq!(bookings, 1);
}

/// A key of the wrong type fails the event before anything is written, so
/// the broker's retry (after an operator or a rebuild repairs the key)
/// applies it whole, not on top of half of it.
#[tokio::test]
async fn a_key_of_the_wrong_type_applies_nothing() {
    let redis = TestRedis::new().await;
    let app = TestApp::spawn_with(record_booking_stats::function(), &[("redis_url", &redis.url)]).await;
    let mut conn = redis.conn().await;
    let _: () = conn.set(keys::TOTAL_INFANT_COUNT, "many").await.unwrap();
    let child = booking("0191d9d2-0000-7000-8000-000000000005", "Lima", "Nino", 8, true, "10.00");
    let status = deliver(&app, CREATED, "e-5", &child).await;
    assert!(status >= 500, "a broken key is the store's fault, so retryable: {status}");
    let keys_now: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.unwrap();
    assert_eq!(keys_now, [keys::TOTAL_INFANT_COUNT], "nothing else was written, the applied bit included");

    let _: () = conn.del(keys::TOTAL_INFANT_COUNT).await.unwrap();
    assert_eq!(deliver(&app, CREATED, "e-5", &child).await, 202);
    assert_eq!(conn.get::<_, Option<i64>>(keys::TOTAL_INFANT_COUNT).await.unwrap(), Some(1));
    assert_eq!(conn.get::<_, Option<i64>>(keys::PET_BOOKINGS).await.unwrap(), Some(1));
}

/// Below the floor an event counts only if it is owed, and then once;
/// above it, once by its bit. What Redis keeps is the floor, one bitmap
/// chunk and the owed set, however many events came.
#[tokio::test]
async fn the_floor_and_the_owed_set_decide_what_is_applied() {
    let redis = TestRedis::new().await;
    let app = TestApp::spawn_with(record_booking_stats::function(), &[("redis_url", &redis.url)]).await;
    let mut conn = redis.conn().await;
    let _: () = conn.set(keys::APPLIED_FLOOR, 10).await.unwrap();
    let _: () = conn.sadd(keys::OWED, 5).await.unwrap();
    let data =
        |n: u32| booking(&format!("0191d9d2-0000-7000-8000-{n:012}"), "Lima", "Ana", 30, false, "1.00");

    for _ in 0..2 {
        assert_eq!(deliver(&app, CREATED, "e-5", &data(5)).await, 202, "owed: applied once");
        assert_eq!(deliver(&app, CREATED, "e-4", &data(4)).await, 202, "settled: never applied");
        assert_eq!(deliver(&app, CREATED, "e-12", &data(12)).await, 202, "above: applied once");
    }
    assert_eq!(conn.get::<_, Option<i64>>(keys::TOTAL_BOOKINGS).await.unwrap(), Some(2));
    assert_eq!(conn.scard::<_, i64>(keys::OWED).await.unwrap(), 0);
    let (chunk, bit) = keys::applied(12);
    assert!(conn.getbit::<_, bool>(&chunk, bit as usize).await.unwrap());

    let mut remembered: Vec<String> =
        redis::cmd("KEYS").arg("*applied*").query_async(&mut conn).await.unwrap();
    remembered.sort();
    assert_eq!(remembered, [chunk, keys::APPLIED_FLOOR.to_owned()]);
}
