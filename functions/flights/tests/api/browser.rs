//! What a browser meets: queries by GET with their parameters, answers it
//! can keep by their ETag, and CORS for the origins the deployment allows.

use flights::commands::create_flight;
use flights::queries::{get_flight, list_flights};
use shared::testing::TestApp;

use crate::helpers::{Fixture, in_days};

const APP: &str = "https://app.example.com";

async fn spawn(function: shared::Function, fx: &Fixture) -> TestApp {
    TestApp::spawn_with(
        function,
        &[("database_url", &fx.db.url()), ("redis_url", &fx.redis.url), ("cors_allowed_origins", APP)],
    )
    .await
}

#[tokio::test]
async fn a_query_answers_get_with_its_parameters_typed_as_its_input_says() {
    let fx = Fixture::new().await;
    let list = spawn(list_flights::function(), &fx).await;
    let get = spawn(get_flight::function(), &fx).await;
    let cancun = fx.destination("Cancún", "50", true).await;
    let flight = fx.flight(&cancun, "SK1", "1000", in_days(10)).await;
    fx.flight(&cancun, "SK2", "2000", in_days(11)).await;

    let id = flight["id"].as_str().unwrap();
    let found = get.get(&format!("/?id={id}")).await.expect(200);
    assert_eq!(found.header("ce-type"), Some("skybook.flight.found"));
    assert_eq!(found.json()["price"]["total"], "950.00");

    // A number (limit), a decimal kept as text (max_price), a uuid.
    let page =
        list.get(&format!("/?destination_id={cancun}&max_price=950.00&limit=1")).await.expect(200).json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["flight_number"], "SK1");
    let refused = list.get("/?limit=ten").await.expect(400);
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("limit"), "{:?}", refused.json());
    assert_eq!(list.get("/?colour=red").await.expect(400).error_code(), "invalid_data");
    assert_eq!(list.get("/?limit=1&limit=2").await.expect(400).error_code(), "invalid_data");

    // Commands stay POST only: a GET must not write.
    let create = spawn(create_flight::function(), &fx).await;
    let refused = create.get("/?flight_number=SK3").await.expect(405);
    assert_eq!(refused.header("allow"), Some("POST, OPTIONS"));
    assert_eq!(fx.flight_count().await, 2);
}

#[tokio::test]
async fn a_catalogue_read_is_kept_by_its_etag_until_it_changes() {
    let fx = Fixture::new().await;
    let get = spawn(get_flight::function(), &fx).await;
    let lima = fx.destination("Lima", "0", false).await;
    let flight = fx.flight(&lima, "LA1", "10", in_days(5)).await;
    let url = format!("{}/?id={}", get.url, flight["id"].as_str().unwrap());

    let first = get.client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "public, max-age=5");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");

    let again = get.client.get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty());

    // A seat taken: the flight is another answer, with another tag.
    sqlx::query("UPDATE flights SET seats_taken = 1 WHERE id = $1::uuid")
        .bind(flight["id"].as_str())
        .execute(&fx.db.pool)
        .await
        .unwrap();
    let changed = get.client.get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
    let body: serde_json::Value = changed.json().await.unwrap();
    assert_eq!(body["seats_left"], 49);
}

#[tokio::test]
async fn only_the_allowed_origins_may_read_the_answers_and_preflights_say_so() {
    let fx = Fixture::new().await;
    let list = spawn(list_flights::function(), &fx).await;
    let create = spawn(create_flight::function(), &fx).await;
    let preflight = |app: &TestApp, origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, &app.url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };

    let allowed = preflight(&create, APP).await.unwrap();
    assert_eq!(allowed.status(), 204);
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], APP);
    assert_eq!(h["access-control-allow-methods"], "POST, OPTIONS");
    assert!(h["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    let allowed = preflight(&list, APP).await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-methods"], "GET, POST, OPTIONS");

    let other = preflight(&list, "https://evil.example.com").await.unwrap();
    assert_eq!(other.status(), 403);
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // Knative's probe (no Origin) is answered as before.
    let probe = list.client.request(reqwest::Method::OPTIONS, &list.url).send().await.unwrap();
    assert_eq!(probe.status(), 204);
    assert_eq!(probe.headers()["allow"], "GET, POST, OPTIONS");

    // The answers: readable by the allowed origin, not by another.
    let read = |origin: &str| list.client.get(format!("{}/", list.url)).header("origin", origin).send();
    let mine = read(APP).await.unwrap();
    assert_eq!(mine.headers()["access-control-allow-origin"], APP);
    assert!(mine.headers()["access-control-expose-headers"].to_str().unwrap().contains("etag"));
    assert_eq!(mine.headers()["vary"], "origin");
    let theirs = read("https://evil.example.com").await.unwrap();
    assert!(theirs.headers().get("access-control-allow-origin").is_none());

    // None allowed by default.
    let closed = fx.spawn(list_flights::function()).await;
    assert_eq!(preflight(&closed, APP).await.unwrap().status(), 403);
    let answer = closed.client.get(format!("{}/", closed.url)).header("origin", APP).send().await.unwrap();
    assert!(answer.headers().get("access-control-allow-origin").is_none());
}
