use destinations::commands::create_destination;
use serde_json::{Value, json};
use shared::testing::{TestApp, TestDb};

const CREATE: &str = "skybook.destination.create";

async fn count(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM destinations").fetch_one(&db.pool).await.unwrap()
}

#[tokio::test]
async fn binary_mode_creates_and_replies_with_the_destination() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(create_destination::function(), &db).await;

    let reply = app
        .binary(
            CREATE,
            "evt-1",
            &json!({"name": "Cancún", "tax_amount": "50", "is_promotion": true, "allows_pets": false}),
        )
        .await
        .expect(200);

    assert_eq!(reply.header("ce-type"), Some("skybook.destination.created"));
    assert_eq!(reply.header("ce-source"), Some("/skybook/destinations"));
    assert_eq!(reply.header("ce-specversion"), Some("1.0"));
    assert!(reply.header("ce-id").is_some_and(|id| !id.is_empty()));
    assert!(reply.header("ce-time").is_some());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let data = reply.json();
    assert_eq!(reply.header("ce-subject"), data["id"].as_str());
    assert_eq!(data["name"], "Cancún");
    assert_eq!(data["tax_amount"], "50.00");
    assert_eq!(data["is_promotion"], true);
    assert_eq!(data["allows_pets"], false);

    let (name, tax): (String, rust_decimal::Decimal) =
        sqlx::query_as("SELECT name, tax_amount FROM destinations").fetch_one(&db.pool).await.unwrap();
    assert_eq!(name, "Cancún");
    assert_eq!(tax.to_string(), "50.00");
}

#[tokio::test]
async fn structured_mode_and_plain_json_are_accepted_too() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(create_destination::function(), &db).await;

    let structured = app
        .structured(&json!({
            "specversion": "1.0", "id": "s-1", "source": "/tests", "type": CREATE,
            "datacontenttype": "application/json",
            "data": {"name": "Lima", "tax_amount": 12.5}
        }))
        .await
        .expect(200);
    assert_eq!(structured.header("ce-type"), Some("skybook.destination.created"));
    assert_eq!(structured.json()["tax_amount"], "12.50");

    let plain = app.json(&json!({"name": "Quito", "tax_amount": "0"}), Some("key-1")).await.expect(200);
    assert_eq!(plain.header("ce-type"), Some("skybook.destination.created"));
    assert_eq!(plain.json()["name"], "Quito");
    assert_eq!(count(&db).await, 2);
}

#[tokio::test]
async fn the_same_event_twice_creates_one_destination_and_replies_the_same() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(create_destination::function(), &db).await;
    let data = json!({"name": "Bogotá", "tax_amount": "20.00"});

    let first = app.binary(CREATE, "dup-1", &data).await.expect(200);
    let second = app.binary(CREATE, "dup-1", &data).await.expect(200);

    assert_eq!(first.body, second.body);
    assert_eq!(first.header("ce-id"), second.header("ce-id"));
    assert_eq!(first.header("ce-time"), second.header("ce-time"));
    assert_eq!(count(&db).await, 1);

    // The same Idempotency-Key on plain JSON: likewise.
    let data = json!({"name": "Cusco", "tax_amount": "1"});
    let a = app.json(&data, Some("same")).await.expect(200);
    let b = app.json(&data, Some("same")).await.expect(200);
    assert_eq!(a.body, b.body);
    assert_eq!(count(&db).await, 2);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_event_create_one_destination() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(create_destination::function(), &db).await;
    let data = json!({"name": "Santiago", "tax_amount": "3"});

    let replies = futures_join(&app, &data).await;
    let first = &replies[0];
    for reply in &replies {
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, first.body);
    }
    assert_eq!(count(&db).await, 1);
}

async fn futures_join(app: &TestApp, data: &Value) -> Vec<shared::testing::TestResponse> {
    let mut handles = Vec::new();
    for _ in 0..5 {
        let (client, url, data) = (app.client.clone(), app.url.clone(), data.clone());
        handles.push(tokio::spawn(async move {
            use shared::testing::{ReadResponse, binary_event};
            binary_event(client.post(url), CREATE, "/tests", "same-event", &data).send().await.read().await
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn an_event_id_reused_for_other_data_is_refused() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(create_destination::function(), &db).await;
    app.binary(CREATE, "k", &json!({"name": "Arequipa", "tax_amount": "1"})).await.expect(200);
    let reused = app.binary(CREATE, "k", &json!({"name": "Trujillo", "tax_amount": "1"})).await.expect(422);
    assert_eq!(reused.error_code(), "idempotency_key_reused");
    assert_eq!(count(&db).await, 1);
}

#[tokio::test]
async fn domain_errors_answer_422_and_write_nothing() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(create_destination::function(), &db).await;
    app.binary(CREATE, "ok", &json!({"name": "Madrid", "tax_amount": "10"})).await.expect(200);

    let cases = [
        (json!({"name": "Roma", "tax_amount": "-1"}), "invalid_tax_amount"),
        (json!({"name": "Roma", "tax_amount": "1.005"}), "invalid_tax_amount"),
        (json!({"name": "   ", "tax_amount": "1"}), "invalid_name"),
        (json!({"name": "madrid", "tax_amount": "1"}), "destination_name_taken"),
    ];
    for (i, (data, code)) in cases.iter().enumerate() {
        let reply = app.binary(CREATE, &format!("bad-{i}"), data).await;
        assert_eq!(reply.status, 422, "{data}");
        assert_eq!(&reply.error_code(), code, "{data}");
        assert!(!reply.json()["error"]["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(count(&db).await, 1);
}

#[tokio::test]
async fn malformed_requests_answer_400_and_write_nothing() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(create_destination::function(), &db).await;

    let bad_json = app
        .post()
        .header("ce-specversion", "1.0")
        .header("ce-id", "1")
        .header("ce-source", "/tests")
        .header("ce-type", CREATE)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await;
    let bad_json = shared::testing::ReadResponse::read(bad_json).await.expect(400);
    assert_eq!(bad_json.error_code(), "malformed_json");

    let missing_id = app
        .post()
        .header("ce-specversion", "1.0")
        .header("ce-source", "/tests")
        .header("ce-type", CREATE)
        .header("content-type", "application/json")
        .body(r#"{"name":"X","tax_amount":"1"}"#)
        .send()
        .await;
    let missing_id = shared::testing::ReadResponse::read(missing_id).await.expect(400);
    assert_eq!(missing_id.error_code(), "invalid_cloudevent");
    assert!(missing_id.json()["error"]["message"].as_str().unwrap().contains("id"));

    let wrong_type =
        app.binary("skybook.flight.create", "2", &json!({"name": "X", "tax_amount": "1"})).await.expect(400);
    assert_eq!(wrong_type.error_code(), "wrong_event_type");

    let wrong_field_type =
        app.binary(CREATE, "3", &json!({"name": "X", "tax_amount": true})).await.expect(400);
    assert_eq!(wrong_field_type.error_code(), "invalid_data");
    assert!(wrong_field_type.json()["error"]["message"].as_str().unwrap().contains("tax_amount"));

    let unknown_field =
        app.binary(CREATE, "4", &json!({"name": "X", "tax_amount": "1", "colour": "red"})).await.expect(400);
    assert_eq!(unknown_field.error_code(), "invalid_data");

    let missing_field = app.binary(CREATE, "5", &json!({"name": "X"})).await.expect(400);
    assert_eq!(missing_field.error_code(), "invalid_data");

    assert_eq!(count(&db).await, 0);
}
