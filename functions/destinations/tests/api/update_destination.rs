use destinations::commands::{create_destination, update_destination};
use serde_json::json;
use shared::testing::{TestApp, TestDb};

const UPDATE: &str = "skybook.destination.update";

#[tokio::test]
async fn changes_only_the_fields_given() {
    let db = TestDb::new().await;
    let create = TestApp::spawn(create_destination::function(), &db).await;
    let update = TestApp::spawn(update_destination::function(), &db).await;
    let created = create.json(&json!({"name": "Cusco", "tax_amount": "10"}), None).await.expect(200).json();
    let id = created["id"].as_str().unwrap();

    let reply = update
        .binary(UPDATE, "u1", &json!({"id": id, "is_promotion": true, "tax_amount": "12.30"}))
        .await
        .expect(200);

    assert_eq!(reply.header("ce-type"), Some("skybook.destination.updated"));
    assert_eq!(reply.header("ce-subject"), Some(id));
    let data = reply.json();
    assert_eq!(data["name"], "Cusco");
    assert_eq!(data["tax_amount"], "12.30");
    assert_eq!(data["is_promotion"], true);
    assert_eq!(data["allows_pets"], false);
    let promo: bool =
        sqlx::query_scalar("SELECT is_promotion FROM destinations").fetch_one(&db.pool).await.unwrap();
    assert!(promo);
}

#[tokio::test]
async fn unknown_id_is_404_and_bad_values_are_refused() {
    let db = TestDb::new().await;
    let create = TestApp::spawn(create_destination::function(), &db).await;
    let update = TestApp::spawn(update_destination::function(), &db).await;
    create.json(&json!({"name": "Lima", "tax_amount": "1"}), None).await.expect(200);
    let cusco = create.json(&json!({"name": "Cusco", "tax_amount": "1"}), None).await.expect(200).json();
    let id = cusco["id"].as_str().unwrap();

    let missing = update
        .binary(UPDATE, "a", &json!({"id": "0191d9d2-0000-7000-8000-000000000000", "allows_pets": true}))
        .await
        .expect(404);
    assert_eq!(missing.error_code(), "destination_not_found");

    let taken = update.binary(UPDATE, "b", &json!({"id": id, "name": "LIMA"})).await.expect(422);
    assert_eq!(taken.error_code(), "destination_name_taken");
    let negative = update.binary(UPDATE, "c", &json!({"id": id, "tax_amount": "-5"})).await.expect(422);
    assert_eq!(negative.error_code(), "invalid_tax_amount");
    let empty = update.binary(UPDATE, "d", &json!({"id": id})).await.expect(400);
    assert_eq!(empty.error_code(), "nothing_to_update");

    let (name, tax): (String, String) =
        sqlx::query_as("SELECT name, tax_amount::text FROM destinations WHERE id = $1::uuid")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((name.as_str(), tax.as_str()), ("Cusco", "1.00"));
}
