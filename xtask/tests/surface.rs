//! The surface a deployment exposes, checked on the built binaries: with
//! keys set, every function reachable from outside the cluster refuses a
//! request without a valid key, but for the public catalogue (destinations,
//! flights, stats); what takes no key at all is cluster-local, and takes
//! only events this deployment signed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_norway::Value;
use shared::testing::{TestProcess, binary};

const KEY: &str = "surface-test-key";
/// What anyone may read: the catalogue, the aggregate stats, the API's documentation and the web app.
const PUBLIC: [&str; 6] =
    ["list-destinations", "list-flights", "get-flight", "get-stats", "serve-docs", "serve-web"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Each function's visibility, from its rendered Knative Service.
fn visibility() -> BTreeMap<String, String> {
    let mut functions = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("knative/services")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let service = Value::deserialize(doc).unwrap();
            let labels = &service["metadata"]["labels"];
            let local = labels["networking.knative.dev/visibility"].as_str() == Some("cluster-local");
            let name = service["metadata"]["name"].as_str().unwrap().to_owned();
            functions.insert(name, if local { "cluster-local" } else { "external" }.to_owned());
        }
    }
    functions
}

/// Starts a function with keys set and every dependency out of reach: the
/// key is checked before any of them is needed.
async fn start(name: &str) -> TestProcess {
    let keys = format!("admin:{KEY}");
    let env = [
        ("AUTH_DISABLED", "false"),
        ("AUTH_API_KEYS", keys.as_str()),
        ("EVENT_SIGNING_KEYS", "surface-test-event-key-0123456789abcdef"),
        ("DATABASE_URL", "postgres://skybook@127.0.0.1:1/skybook"),
        ("REDIS_URL", "redis://127.0.0.1:1"),
        ("DB_ACQUIRE_TIMEOUT_MS", "200"),
    ];
    TestProcess::start(binary(name), &[], &env).await
}

#[tokio::test]
async fn outside_the_cluster_only_the_public_catalogue_answers_without_a_key() {
    let functions = visibility();
    let mut binaries = Vec::new();
    for slice in std::fs::read_dir(root().join("functions")).unwrap() {
        let Ok(bins) = std::fs::read_dir(slice.unwrap().path().join("src/bin")) else { continue };
        binaries.extend(bins.map(|b| b.unwrap().path().file_stem().unwrap().to_str().unwrap().to_owned()));
    }
    binaries.sort();
    assert_eq!(
        functions.keys().cloned().collect::<Vec<_>>(),
        binaries,
        "a function without a Service, or one more"
    );
    let client = reqwest::Client::new();
    for (name, visibility) in &functions {
        let process = start(name).await;
        let url = format!("{}/", process.url);
        let post = |key: Option<&str>| {
            let request = client.post(&url).header("content-type", "application/json").body("{}");
            match key {
                Some(key) => request.bearer_auth(key),
                None => request,
            }
        };
        let without = post(None).send().await.unwrap().status().as_u16();
        let wrong = post(Some("not-the-key")).send().await.unwrap().status().as_u16();
        let with = post(Some(KEY)).send().await.unwrap().status().as_u16();
        assert_ne!(with, 401, "{name} refused its key");
        match (visibility.as_str(), PUBLIC.contains(&name.as_str())) {
            ("external", false) => {
                assert_eq!((without, wrong), (401, 401), "{name} answered without a valid key");
            }
            ("external", true) => assert_ne!(without, 401, "{name} is public but wants a key"),
            // The Broker sends no key: these take events this deployment
            // signed, and the PingSources' ticks, which need no signature.
            (_, _) => {
                assert_ne!(without, 401, "{name} is cluster-local and wants no key");
                let schema: serde_json::Value =
                    client.get(format!("{url}schema")).send().await.unwrap().json().await.unwrap();
                for ty in schema["accepts"]["types"].as_array().unwrap() {
                    let ty = ty.as_str().unwrap();
                    let ty = if ty == "*" { "skybook.booking.created" } else { ty };
                    let unsigned = client
                        .post(&url)
                        .header("ce-specversion", "1.0")
                        .header("ce-id", "surface-1")
                        .header("ce-source", "/anyone")
                        .header("ce-type", ty)
                        .header("content-type", "application/json")
                        .body("{}")
                        .send()
                        .await
                        .unwrap();
                    let status = unsigned.status().as_u16();
                    if ty == shared::cloudevent::PING {
                        assert!(status != 401 && status != 403, "{name}: a tick needs no signature");
                    } else if ty == domain::events::STATS_REBUILD {
                        assert_eq!(status, 401, "{name}: a rebuild is an operator's");
                    } else {
                        let body: serde_json::Value = unsigned.json().await.unwrap();
                        assert_eq!(
                            (status, body["error"]["code"].as_str()),
                            (403, Some("event_not_signed")),
                            "{name} took an unsigned {ty}"
                        );
                    }
                }
            }
        }
    }
}
