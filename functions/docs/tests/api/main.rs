//! The docs function over real HTTP: the page and its parts, the API
//! documents as `cargo xtask manifests` wrote them, what the page is told at
//! run time, and nothing else.

use serde_json::Value;
use shared::testing::TestApp;

async fn spawn(urls: &str) -> TestApp {
    TestApp::spawn_with(
        docs::function(),
        &[("function_urls", urls), ("auth_issuer", "https://id.example.com")],
    )
    .await
}

#[tokio::test]
async fn the_page_and_its_parts_are_served_with_validators_and_a_policy() {
    let app = spawn("").await;
    let page = app.client.get(format!("{}/", app.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(headers["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
    assert_eq!(headers["cache-control"], "no-cache");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<script src=\"docs.js\" defer></script>") && html.contains("lang=\"en\""),
        "{html}"
    );

    let again = app
        .client
        .get(format!("{}/index.html", app.url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    for (path, kind) in [("/docs.js", "text/javascript"), ("/docs.css", "text/css")] {
        let part = app.client.get(format!("{}{path}", app.url)).send().await.unwrap();
        assert_eq!(part.status(), 200, "{path}");
        assert!(part.headers()["content-type"].to_str().unwrap().starts_with(kind), "{path}");
    }
    assert_eq!(app.get("/nothing-here").await.status, 404);
    let post = app.post().header("content-type", "application/json").body("{}").send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET");
    // The runtime's own paths stay the runtime's.
    assert_eq!(app.get("/health/readiness").await.status, 200);
}

#[tokio::test]
async fn the_api_documents_are_the_published_ones_and_the_page_is_told_where_each_function_is() {
    let app = spawn("get-flight=http://127.0.0.1:8086/, list-flights=https://list-flights.example.com").await;
    let api: Value = app.get("/api.json").await.expect(200).json();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/api");
    let mut published = Vec::new();
    for entry in std::fs::read_dir(root.join("openapi")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let document: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(api["openapi"][&name], document, "{name}");
        published.push(name);
    }
    assert_eq!(api["openapi"].as_object().unwrap().len(), published.len());
    assert!(published.contains(&"create-booking".to_owned()), "{published:?}");
    let asyncapi: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("asyncapi.json")).unwrap()).unwrap();
    assert_eq!(api["asyncapi"], asyncapi);

    let config: Value = app.get("/config.json").await.expect(200).json();
    assert_eq!(config["functions"]["get-flight"], "http://127.0.0.1:8086");
    assert_eq!(config["functions"]["list-flights"], "https://list-flights.example.com");
    assert_eq!(config["issuer"], "https://id.example.com");
}

#[tokio::test]
async fn a_function_url_that_is_not_one_stops_start_up() {
    let settings =
        shared::config::Settings::with_overrides(&[("port", "0"), ("function_urls", "get-flight=ftp://x")])
            .unwrap();
    let refused = shared::server::Server::bind(docs::function(), settings).await.err().unwrap();
    assert!(refused.starts_with("configuration: FUNCTION_URLS: expected NAME=http(s)://HOST"), "{refused}");
}
