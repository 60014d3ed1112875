//! One function served in-process on a random port, and the responses it gives.

use std::net::SocketAddr;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::sync::oneshot;

use super::db::{TestDb, pool_mode};
use crate::config::Settings;
use crate::function::Function;
use crate::server::Server;

/// One function served in-process on a random port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub url: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestApp {
    /// Serves `function` against `db` with default settings.
    pub async fn spawn(function: Function, db: &TestDb) -> TestApp {
        Self::spawn_with(function, &[("database_url", &db.url())]).await
    }

    /// Serves `function` with the given settings over the defaults (the
    /// environment is not read; `port` is always 0).
    pub async fn spawn_with(function: Function, overrides: &[(&str, &str)]) -> TestApp {
        let mut all = vec![
            ("port", "0"),
            ("log_format", "pretty"),
            ("auth_disabled", "true"),
            ("db_pool_mode", pool_mode()),
        ];
        all.extend_from_slice(overrides);
        let level = std::env::var("TEST_LOG").unwrap_or_else(|_| "off".into());
        all.push(("rust_log", &level));
        let settings = Settings::with_overrides(&all).expect("test settings");
        crate::telemetry::init("test", &settings.rust_log, settings.log_format);
        let server = Server::bind(function, settings).await.expect("bind");
        let port = server.local_addr().expect("local addr").port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TestApp { addr, url: format!("http://{addr}"), client: reqwest::Client::new(), stop: Some(stop) }
    }

    /// POST / with a binary-mode CloudEvent from `/tests`.
    pub async fn binary(&self, ty: &str, id: &str, data: &Value) -> TestResponse {
        binary_event(self.post(), ty, "/tests", id, data).send().await.read().await
    }

    /// POST / with a structured-mode CloudEvent.
    pub async fn structured(&self, event: &Value) -> TestResponse {
        self.post()
            .header("content-type", "application/cloudevents+json")
            .body(event.to_string())
            .send()
            .await
            .read()
            .await
    }

    /// POST / with plain JSON, optionally with an Idempotency-Key.
    pub async fn json(&self, data: &Value, idempotency_key: Option<&str>) -> TestResponse {
        let mut request = self.post().header("content-type", "application/json").body(data.to_string());
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.read().await
    }

    /// A POST / to build by hand.
    pub fn post(&self) -> reqwest::RequestBuilder {
        self.client.post(&self.url)
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.client.get(format!("{}{path}", self.url)).send().await.read().await
    }
}

/// Makes `request` a binary-mode CloudEvent: the attributes as `ce-*`
/// headers, the data as the JSON body.
pub fn binary_event(
    request: reqwest::RequestBuilder,
    ty: &str,
    source: &str,
    id: &str,
    data: &Value,
) -> reqwest::RequestBuilder {
    request
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", source)
        .header("ce-type", ty)
        .header("content-type", "application/json")
        .body(data.to_string())
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `error.code` of an error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
    }

    /// Panics with the body unless the status is as expected.
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", String::from_utf8_lossy(&self.body));
        self
    }
}

/// Reads a response whole: `send().await.read().await`.
pub trait ReadResponse {
    fn read(self) -> impl std::future::Future<Output = TestResponse> + Send;
}

impl ReadResponse for reqwest::Result<reqwest::Response> {
    async fn read(self) -> TestResponse {
        let response = self.expect("request failed");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("read body");
        TestResponse { status, headers, body }
    }
}
