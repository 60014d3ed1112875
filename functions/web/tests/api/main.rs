//! The web function over real HTTP: the built app as Vite wrote it, and
//! where its page finds the functions and the identity provider.

use shared::testing::TestApp;

#[tokio::test]
async fn the_built_app_is_served_and_told_where_the_functions_and_the_provider_are() {
    let app = TestApp::spawn_with(
        web::function(),
        &[("function_urls", "list-flights=http://127.0.0.1:8086"), ("auth_issuer", "http://127.0.0.1:8104")],
    )
    .await;
    let page = app.get("/").await.expect(200);
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    assert!(html.contains("src=\"/app.js\"") && html.contains("href=\"/index.css\""), "{html}");
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("app/dist");
    for file in ["app.js", "index.css"] {
        let served = app.get(&format!("/{file}")).await.expect(200);
        assert_eq!(served.body, std::fs::read(dist.join(file)).unwrap(), "{file} as built");
    }
    let config = app.get("/config.json").await.expect(200).json();
    assert_eq!(config["functions"]["list-flights"], "http://127.0.0.1:8086");
    assert_eq!(config["issuer"], "http://127.0.0.1:8104");
    assert_eq!(app.get("/src/main.ts").await.status, 404, "the sources stay out");
}
