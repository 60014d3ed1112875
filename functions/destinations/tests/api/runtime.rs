//! The shared runtime, seen through one function: size limit, auth, health,
//! metrics, content types, and a database that is down at start-up.

use destinations::commands::create_destination;
use destinations::queries::list_destinations;
use serde_json::json;
use shared::testing::{ReadResponse, TcpProxy, TestApp, TestDb, postgres_addr};

const CREATE: &str = "skybook.destination.create";

async fn count(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM destinations").fetch_one(&db.pool).await.unwrap()
}

#[tokio::test]
async fn an_oversized_body_is_413_and_writes_nothing() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with(
        create_destination::function(),
        &[("database_url", &db.url()), ("body_limit", "1024")],
    )
    .await;
    let big = json!({"name": "x".repeat(2000), "tax_amount": "1"});
    let reply = app.binary(CREATE, "big", &big).await.expect(413);
    assert_eq!(reply.error_code(), "payload_too_large");

    // Without Content-Length (chunked), the limit still holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..8).map(|_| Ok(vec![b' '; 256])).collect();
    let chunked = app
        .post()
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_stream(chunks)))
        .send()
        .await
        .read()
        .await
        .expect(413);
    assert_eq!(chunked.error_code(), "payload_too_large");
    assert_eq!(count(&db).await, 0);
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_408_and_writes_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let db = TestDb::new().await;
    let app = TestApp::spawn_with(
        create_destination::function(),
        &[("database_url", &db.url()), ("body_timeout_ms", "300")],
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    // Headers promise 100 bytes; one arrives, and the rest never does.
    let head = "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let read =
        tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    assert!(read.is_ok(), "the server kept the connection past its deadline");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("request_timeout"), "{response}");
    assert_eq!(count(&db).await, 0);
}

#[tokio::test]
async fn a_statement_over_the_timeout_is_cancelled_and_answered_as_retryable() {
    let db = TestDb::new().await;
    // Set at connection start-up directly; per transaction behind a pooler,
    // where every write runs in one (reads there are bounded by the pooler).
    for (mode, url) in [("session", db.direct_url()), ("transaction", db.url())] {
        let settings = shared::config::Settings::with_overrides(&[
            ("database_url", &url),
            ("db_pool_mode", mode),
            ("db_statement_timeout_ms", "200"),
        ])
        .unwrap();
        let database = shared::db::Database::new(&settings).unwrap();
        let started = std::time::Instant::now();
        let mut conn = database.begin().await.unwrap();
        let error = sqlx::query("SELECT pg_sleep(5)").execute(conn.exec()).await.expect_err("cancelled");
        assert!(started.elapsed() < std::time::Duration::from_secs(4), "{mode}: not cancelled: {error}");
        assert_eq!(shared::Error::from(error).status(), 503, "{mode}");
    }
}

fn futures_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + Sync + 'static {
    tokio_stream::iter(chunks)
}

#[tokio::test]
async fn the_catalogue_is_written_by_admins_and_read_by_anyone() {
    let db = TestDb::new().await;
    // A Redis of its own: failed sign-ins are counted per address there, and
    // every test calls from 127.0.0.1.
    let redis = shared::testing::TestRedis::new().await;
    let keys = "agent:agent-key-0123456789abcdef, admin:admin-key-0123456789abcdef";
    let keys =
        [("database_url", db.url()), ("redis_url", redis.url.clone()), ("auth_api_keys", keys.to_owned())];
    let keys: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let create = TestApp::spawn_with(create_destination::function(), &keys).await;
    let list = TestApp::spawn_with(list_destinations::function(), &keys).await;
    let data = json!({"name": "Oslo", "tax_amount": "1"}).to_string();
    let post = |key: Option<&str>| {
        let mut request = create.post().header("content-type", "application/json").body(data.clone());
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move { request.send().await.read().await }
    };

    let none = post(None).await.expect(401);
    assert_eq!(none.error_code(), "unauthorized");
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let wrong = post(Some("not-a-key-0123456789abcdef")).await.expect(401);
    assert_eq!(wrong.error_code(), "unauthorized");
    let agent = post(Some("agent-key-0123456789abcdef")).await.expect(403);
    assert_eq!(agent.error_code(), "forbidden");
    assert_eq!(count(&db).await, 0);

    post(Some("admin-key-0123456789abcdef")).await.expect(200);
    assert_eq!(count(&db).await, 1);
    list.json(&json!({}), None).await.expect(200);
}

#[tokio::test]
async fn health_metrics_and_routing() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(create_destination::function(), &db).await;
    assert_eq!(app.get("/health/liveness").await.status, 200);
    assert_eq!(app.get("/health/readiness").await.status, 200);

    app.json(&json!({"name": "Oslo", "tax_amount": "1"}), None).await.expect(200);
    app.json(&json!({"name": "Oslo", "tax_amount": "1"}), None).await.expect(422);
    let metrics = app.get("/metrics").await.expect(200);
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    // One registry per process, shared by the tests of this binary: at least ours.
    let count = |series: &str| {
        text.lines().find_map(|l| l.strip_prefix(series)?.trim().parse::<u64>().ok()).unwrap_or(0)
    };
    assert!(count(r#"skybook_requests_total{function="create-destination",code="200"}"#) >= 1, "{text}");
    assert!(count(r#"skybook_requests_total{function="create-destination",code="422"}"#) >= 1, "{text}");
    assert!(text.contains("skybook_request_duration_seconds_bucket"), "{text}");

    assert_eq!(app.get("/nowhere").await.expect(404).error_code(), "no_route");
    assert_eq!(app.get("/").await.expect(405).error_code(), "method_not_allowed");
    let xml =
        app.post().header("content-type", "text/xml").body("<a/>").send().await.read().await.expect(415);
    assert_eq!(xml.error_code(), "unsupported_media_type");
}

#[tokio::test]
async fn starts_with_the_database_down_answers_503_then_recovers() {
    let db = TestDb::new().await;
    let proxy = TcpProxy::start(postgres_addr()).await;
    proxy.cut();
    let url = db.url_via(Some(proxy.addr));
    let app = TestApp::spawn_with(
        create_destination::function(),
        &[("database_url", &url), ("db_acquire_timeout_ms", "500")],
    )
    .await;

    let down = app.json(&json!({"name": "Oslo", "tax_amount": "1"}), Some("o1")).await.expect(503);
    assert_eq!(down.error_code(), "database_unavailable");
    // Knative's convention: readiness is the process's, so a database blip
    // does not take every pod of every function out of the routes at once.
    assert_eq!(app.get("/health/readiness").await.status, 200);
    assert_eq!(app.get("/health/liveness").await.status, 200);
    let dependencies = app.get("/health/dependencies").await.expect(503).json();
    assert_eq!(dependencies["postgres"], serde_json::json!({"up": false, "code": "database_unavailable"}));
    let metrics = String::from_utf8_lossy(&app.get("/metrics").await.body).into_owned();
    assert!(metrics.contains(r#"skybook_dependency_up{dependency="postgres"} 0"#), "{metrics}");

    proxy.restore();
    app.json(&json!({"name": "Oslo", "tax_amount": "1"}), Some("o1")).await.expect(200);
    assert_eq!(count(&db).await, 1);

    // Cut while connections are pooled: the pool notices and recovers.
    proxy.cut();
    app.json(&json!({"name": "Lima", "tax_amount": "1"}), Some("l1")).await.expect(503);
    proxy.restore();
    app.json(&json!({"name": "Lima", "tax_amount": "1"}), Some("l1")).await.expect(200);
    assert_eq!(count(&db).await, 2);
}

#[tokio::test]
async fn a_command_refuses_to_start_without_identities_unless_auth_is_disabled_explicitly() {
    let open = shared::config::Settings::with_overrides(&[("port", "0")]).unwrap();
    let refused = shared::server::Server::bind(create_destination::function(), open).await.err().unwrap();
    assert!(
        refused.starts_with("configuration: AUTH_ISSUER: create-destination needs identities"),
        "{refused}"
    );
    // The public catalogue needs no keys, so it starts either way.
    let open = shared::config::Settings::with_overrides(&[("port", "0")]).unwrap();
    assert!(shared::server::Server::bind(list_destinations::function(), open).await.is_ok());
    let disabled =
        shared::config::Settings::with_overrides(&[("port", "0"), ("auth_disabled", "true")]).unwrap();
    assert!(shared::server::Server::bind(create_destination::function(), disabled).await.is_ok());
}

#[tokio::test]
async fn behind_pgbouncer_in_transaction_mode_every_statement_is_safe_under_concurrency() {
    let pooler = shared::testing::pooler().expect("the test command runs PgBouncer: TEST_POOLER_ADDR");
    let db = TestDb::new().await;
    assert!(db.url().contains(&pooler.to_string()), "functions reach the database through the pooler");

    // The pooler is a strict PgBouncer: the session mode's startup options are refused.
    let session =
        shared::config::Settings::with_overrides(&[("database_url", &db.url()), ("db_pool_mode", "session")])
            .unwrap();
    let refused = shared::db::Database::new(&session).unwrap().read().await.err().expect("refused");
    assert!(refused.to_string().contains("unsupported startup parameter"), "{refused}");

    // Transaction mode: unnamed statements, each in a transaction. Many
    // clients share a few server connections, so a statement left named on
    // one, or parsed on one and run on another, would fail here.
    let create = TestApp::spawn(create_destination::function(), &db).await;
    let list = TestApp::spawn(list_destinations::function(), &db).await;
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..60 {
        let (client, create, list) = (create.client.clone(), create.url.clone(), list.url.clone());
        requests.spawn(async move {
            let made = client.post(create).json(&json!({"name": format!("City {i}"), "tax_amount": "1.50"}));
            let listed = client.post(list).json(&json!({"limit": 5}));
            let (made, listed) = tokio::join!(made.send(), listed.send());
            (made.unwrap().status().as_u16(), listed.unwrap().status().as_u16())
        });
    }
    let outcomes = requests.join_all().await;
    assert!(outcomes.iter().all(|o| *o == (200, 200)), "{outcomes:?}");
    assert_eq!(count(&db).await, 60);
}

#[tokio::test]
async fn attributes_past_their_limits_are_a_clear_400_and_change_nothing() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(create_destination::function(), &db).await;
    let send = |id: String, extra: Option<(&'static str, String)>| {
        let data = json!({"name": format!("City {}", id.len()), "tax_amount": "1"});
        let mut request =
            shared::testing::binary_event(app.post(), "skybook.destination.create", "/t", &id, &data);
        if let Some((name, value)) = extra {
            request = request.header(name, value);
        }
        async move { request.send().await.read().await }
    };
    // A 3 KB id would overflow the indexes' btree pages; it is refused first.
    let long = send("x".repeat(3000), None).await.expect(400);
    assert_eq!(long.error_code(), "attribute_too_long");
    assert!(long.json()["error"]["message"].as_str().unwrap().contains("id is 3000 bytes; at most 256"));
    let subject = send("s1".into(), Some(("ce-subject", "s".repeat(257)))).await.expect(400);
    assert_eq!(subject.error_code(), "attribute_too_long");
    let extension = send("e1".into(), Some(("ce-note", "n".repeat(1025)))).await.expect(400);
    assert_eq!(extension.error_code(), "attribute_too_long");
    assert_eq!(count(&db).await, 0);
    // At the limit, it is taken.
    send("x".repeat(256), None).await.expect(200);
    assert_eq!(count(&db).await, 1);
}

#[tokio::test]
async fn behind_the_pooler_a_statement_is_parsed_once_per_server_connection_not_per_call() {
    if shared::testing::pooler().is_none() {
        return;
    }
    let db = TestDb::new().await;
    let counts = |db: &TestDb| {
        ["total_server_parse_count", "total_bind_count", "total_query_count"]
            .map(|name| db.pooler_count(name).unwrap_or_default())
    };
    let mut parsed = Vec::new();
    // Kept, as PgBouncer 1.21 and later do; unnamed, for an older pooler.
    for mode in ["transaction", "transaction-unnamed"] {
        let settings = shared::config::Settings::with_overrides(&[
            ("database_url", &db.url()),
            ("db_pool_mode", mode),
            ("db_pool_size", "4"),
        ])
        .unwrap();
        let database = shared::db::Database::new(&settings).unwrap();
        let before = counts(&db);
        // Reads and writes from four connections at once, on every server
        // connection the pooler hands out.
        let mut calls = tokio::task::JoinSet::new();
        for n in 0..200 {
            let database = database.clone();
            calls.spawn(async move {
                let mut tx = database.begin().await.unwrap();
                sqlx::query("INSERT INTO destinations (id, name, tax_amount) VALUES ($1, $2, 1)")
                    .bind(uuid::Uuid::new_v4())
                    .bind(format!("{mode} {n}"))
                    .execute(tx.exec())
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                let mut read = database.read().await.unwrap();
                let named: i64 = sqlx::query_scalar("SELECT count(*) FROM destinations WHERE name = $1")
                    .bind(format!("{mode} {n}"))
                    .fetch_one(read.exec())
                    .await
                    .unwrap();
                assert_eq!(named, 1, "{mode}");
            });
        }
        while let Some(call) = calls.join_next().await {
            call.unwrap();
        }
        let after = counts(&db);
        // Then reads alone, the queries each costs the pooler and PostgreSQL.
        for _ in 0..100 {
            let mut read = database.read().await.unwrap();
            sqlx::query("SELECT 1").execute(read.exec()).await.unwrap();
        }
        let reads = db.pooler_count("total_query_count").unwrap_or_default() - after[2];
        database.close();
        parsed.push([after[0] - before[0], after[1] - before[1], reads]);
    }
    // Named: two statements, each parsed at most once on each of the
    // pooler's server connections for this database (10 at most), and
    // bound 400 times. Unnamed: the pooler tracks none of them.
    assert!(parsed[0][0] <= 2 * 10, "kept: {} parses for 400 calls", parsed[0][0]);
    assert_eq!(parsed[0][1], 400, "kept: every call binds the prepared statement");
    assert_eq!(parsed[1][..2], [0, 0], "unnamed: no named statement reached the pooler");
    // A read is its statement alone where statements are kept; a read-only
    // transaction (BEGIN, the statement, COMMIT) behind an older pooler:
    // twice the queries the pooler counts, and three round trips for one.
    let (kept, unnamed) = (parsed[0][2] as f64, parsed[1][2] as f64);
    assert!(unnamed >= 1.8 * kept, "a read costs {kept} queries kept and {unnamed} unnamed, per 100");
}
