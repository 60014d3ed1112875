use destinations::commands::create_destination;
use destinations::queries::list_destinations;
use serde_json::json;
use shared::testing::{TestApp, TestDb};

const LIST: &str = "skybook.destination.list";

#[tokio::test]
async fn pages_through_every_destination_by_name() {
    let db = TestDb::new().await;
    let create = TestApp::spawn(create_destination::function(), &db).await;
    let list = TestApp::spawn(list_destinations::function(), &db).await;
    for (i, name) in ["Quito", "arequipa", "Lima", "Bogotá", "Cusco"].iter().enumerate() {
        create
            .json(&json!({"name": name, "tax_amount": "1", "is_promotion": i % 2 == 0}), None)
            .await
            .expect(200);
    }

    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let reply =
            list.binary(LIST, &format!("p{pages}"), &json!({"limit": 2, "cursor": cursor})).await.expect(200);
        assert_eq!(reply.header("ce-type"), Some("skybook.destination.listed"));
        assert_eq!(reply.header("ce-subject"), None);
        let page = reply.json();
        names
            .extend(page["items"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap().to_owned()));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["arequipa", "Bogotá", "Cusco", "Lima", "Quito"]);

    let promos = list.json(&json!({"is_promotion": true}), None).await.expect(200).json();
    let promo_names: Vec<_> =
        promos["items"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(promo_names, ["Cusco", "Lima", "Quito"]);

    // No body at all reads as no filters.
    let all = shared::testing::ReadResponse::read(list.post().send().await).await.expect(200).json();
    assert_eq!(all["items"].as_array().unwrap().len(), 5);

    let bad_limit = list.json(&json!({"limit": 0}), None).await.expect(400);
    assert_eq!(bad_limit.error_code(), "invalid_data");
}
