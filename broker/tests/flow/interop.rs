//! Interoperability with an independent CloudEvents implementation, the
//! official SDK for Python: its events reach a function and the broker, in
//! binary and structured mode; it reads our replies and published events.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use shared::testing::{TestApp, TestDb, TestSink};

use crate::helpers::TestBroker;

/// The Python of `target/tools/venv`, where `scripts/tools.sh` installs the SDK.
fn python() -> (PathBuf, PathBuf) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join("target/tools/venv/bin/python");
    assert!(
        python.exists(),
        "the CloudEvents SDK for Python is not installed: run scripts/tools.sh (cargo xtask test does)"
    );
    (python, root.join("scripts/interop.py"))
}

#[tokio::test]
async fn the_python_sdk_talks_to_a_function_and_the_broker_both_ways() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(destinations::commands::create_destination::function(), &db).await;
    let stats = TestSink::start().await;
    let broker = TestBroker::start(1, "PT0.01S", "", &[("record-booking-stats", &stats.url)]).await;
    let (python, script) = python();
    let (app_url, ingress) = (app.url.clone(), broker.ingress.clone());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python).arg(script).arg(app_url).arg(ingress).output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(seen["seen"]["binary"]["ingress"], 202);
    assert_eq!(seen["seen"]["structured"]["ingress"], 202);
    let created: i64 = sqlx::query_scalar("SELECT count(*) FROM destinations WHERE name LIKE 'Interop %'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(created, 2);
}

#[tokio::test]
async fn the_python_sdk_reads_the_events_we_publish() {
    let db = TestDb::new().await;
    let sink = TestSink::start().await;
    let url = db.url();
    let destinations = TestApp::spawn(destinations::commands::create_destination::function(), &db).await;
    let flights = TestApp::spawn(flights::commands::create_flight::function(), &db).await;
    let book = TestApp::spawn_with(
        bookings::commands::create_booking::function(),
        &[("database_url", &url), ("k_sink", &sink.url)],
    )
    .await;
    let d = destinations
        .json(&json!({"name": "Lima", "tax_amount": "5", "allows_pets": true}), None)
        .await
        .expect(200)
        .json();
    let f = flights
        .json(
            &json!({"destination_id": d["id"], "flight_number": "LI1", "base_price": "100",
                    "departure_at": "2099-01-01T00:00:00Z", "capacity": 5}),
            None,
        )
        .await
        .expect(200)
        .json();
    let booking = book
        .json(&json!({"flight_id": f["id"], "passenger_name": "Ana", "passenger_age": 9}), None)
        .await
        .expect(200)
        .json();

    let event = &sink.wait_for(1).await[0];
    let headers: serde_json::Map<String, Value> = event
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.to_str().unwrap().to_owned())))
        .collect();
    let message = json!({"headers": headers, "body": String::from_utf8(event.body.to_vec()).unwrap()});
    let (python, script) = python();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(python)
            .arg(script)
            .arg("--parse")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        child.stdin.take().unwrap().write_all(message.to_string().as_bytes())?;
        child.wait_with_output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let parsed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(parsed["attributes"]["type"], "skybook.booking.created");
    assert_eq!(parsed["attributes"]["source"], "/skybook/bookings");
    assert_eq!(parsed["attributes"]["subject"], booking["id"]);
    assert_eq!(parsed["attributes"]["specversion"], "1.0");
    assert_eq!(parsed["data"]["price"]["total"], "105.00");
    assert_eq!(parsed["data"]["passenger_age"], 9);
}
