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

/// Of two concurrent renames, the one that commits last carries the higher
/// version, though its transaction began first: the stats, which keep the
/// name of the highest version, end with the name the database has.
#[tokio::test]
async fn of_two_concurrent_renames_the_last_to_commit_has_the_higher_version() {
    let db = TestDb::new().await;
    let create = TestApp::spawn(create_destination::function(), &db).await;
    let update = TestApp::spawn(update_destination::function(), &db).await;
    let cusco = create.json(&json!({"name": "Cusco", "tax_amount": "10"}), None).await.expect(200).json();
    let id = cusco["id"].as_str().unwrap();

    // One rename's transaction begins (its now() is fixed here) and waits.
    let mut first = db.pool.begin().await.unwrap();
    sqlx::query("SELECT 1").execute(&mut *first).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // Another, through the function, begins later and commits first.
    let second = update.binary(UPDATE, "u2", &json!({"id": id, "name": "Cuzco"})).await.expect(200).json();
    let input: update_destination::UpdateDestination =
        serde_json::from_value(json!({"id": id, "name": "Qosqo"})).unwrap();
    let changes = update_destination::DestinationChanges::try_from(input).unwrap();
    let last = update_destination::apply(&mut *first, &changes).await.unwrap();
    first.commit().await.unwrap();

    let second_updated: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(second["updated_at"].clone()).unwrap();
    assert!(last.updated_at < second_updated, "the last to commit began first");
    assert!(last.version > second["version"].as_i64().unwrap(), "{} vs {}", last.version, second["version"]);
    let (name, version): (String, i64) =
        sqlx::query_as("SELECT name, version FROM destinations WHERE id = $1::uuid")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((name.as_str(), version), ("Qosqo", last.version));
}
