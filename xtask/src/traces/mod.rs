//! One booking, one trace: the local stack exports its spans by OTLP/HTTP to
//! a receiver run here (real protobuf, decoded with OpenTelemetry's own
//! message types), and the spans of a booking, from the client's request to
//! the Redis stats, must form one trace with each hop the child of the one
//! before: create-booking, the event's creation and send, the broker's
//! ingress, publish and delivery, record-booking-stats. Then the same with
//! the broker down at booking time: the relay sends the event later, and it
//! joins the booking's trace all the same. Nothing is exported on a schedule
//! while the drill runs: every span and metric must arrive by the flush each
//! process makes as it stops (SIGTERM, as when Knative scales it to zero).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use crate::client::Skybook;
use crate::dev::{self, Options};
use crate::services;

mod receiver;

use receiver::{CLIENT, CONSUMER, PRODUCER, Received, SERVER, Span, receive};

pub fn run() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let database_url = services::sibling_database_url("traces")?;
    runtime.block_on(services::drop_database(&database_url))?;
    let database = services::database_name(&database_url)?;
    let redis_url = services::fresh_redis_db(12)?;
    let received = Received::default();
    let endpoint = runtime.block_on(receive(received.clone()))?;
    let options = Options {
        base_port: 18281,
        release: false,
        database_url,
        redis_url: Some(redis_url),
        logs: false,
        identities: crate::dev::Identities::Disabled,
        env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), endpoint),
            // Nothing leaves on a schedule while the drill runs (a minute
            // for either): every span and metric arrives by the flush each
            // process makes as it stops, or not at all.
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "60000".into()),
            ("OTEL_METRIC_EXPORT_INTERVAL".into(), "60000".into()),
            // The relay ticks every 2 s, and takes rows unsent for 2 s.
            ("BROKER_PING_EVERY_SECS".into(), "2".into()),
            ("OUTBOX_GRACE_MS".into(), "2000".into()),
        ],
    };
    let stack = dev::start(&options)?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let skybook = Skybook { http, urls: stack.urls.clone() };
    let (direct, relayed) = runtime.block_on(async {
        let flight = route(&skybook).await?;
        let direct = book(&skybook, &flight, "4bf92f3577b34da6a3ce929d0e0e4736", 1).await?;
        wait_for_stats(&skybook, direct.bookings).await?;
        wait_for_deliveries(&skybook, 1).await?;
        refuse_too_large(&skybook).await?;
        // The broker is down when the next booking commits: the send fails,
        // and the relay sends the event once the broker is back.
        stack.processes.hold("skybook-broker")?;
        let (pushed, flushed) = {
            let stopped = received.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            let flushed =
                stopped.spans.iter().any(|s| s.service == "skybook-broker" && s.trace_id == direct.trace_id);
            (stopped.pushed("skybook-broker", "skybook_broker_ingress", ("code", "202")), flushed)
        };
        anyhow::ensure!(pushed, "the stopped broker did not push its metrics");
        anyhow::ensure!(flushed, "the stopped broker did not flush its spans");
        let relayed = book(&skybook, &flight, "0af7651916cd43dd8448eb211c80319c", 2).await?;
        stack.processes.release("skybook-broker")?;
        wait_for_stats(&skybook, relayed.bookings).await?;
        // The stats may count it already (reconcile-stats rebuilds from
        // PostgreSQL on a tick): what matters is the event's own delivery.
        wait_for_deliveries(&skybook, 2).await?;
        anyhow::Ok((direct, relayed))
    })?;
    // Every process stops (SIGTERM), and sends what it holds as it goes.
    drop(stack);
    let export = received.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let sent_after_commit = chain(&export.spans, &direct, "after_commit", &database)?;
    let count = export.spans.iter().filter(|s| s.trace_id == direct.trace_id).count();
    println!("traces: a booking is one trace of {count} spans: {sent_after_commit}");
    let sent_by_the_relay = chain(&export.spans, &relayed, "relay", &database).map_err(|e| {
        let spans: Vec<String> = export
            .spans
            .iter()
            .filter(|s| s.trace_id == relayed.trace_id)
            .map(|s| {
                format!(
                    "{}:{} {:?} ({} <- {})",
                    s.service,
                    s.name,
                    s.attributes.get("skybook.outbox.path"),
                    s.span_id,
                    s.parent
                )
            })
            .collect();
        anyhow::anyhow!("{e}\nthe relayed booking's spans: {spans:#?}")
    })?;
    anyhow::ensure!(
        export.spans.iter().any(|s| s.trace_id == relayed.trace_id
            && s.name.starts_with("send ")
            && s.attributes.get("skybook.outbox.path").is_some_and(|p| p == "after_commit")),
        "the failed send while the broker was down is not in the booking's trace"
    );
    println!("traces: a relayed event joins its booking's trace: {sent_by_the_relay}");
    anyhow::ensure!(
        export.spans.iter().any(|s| s.trace_id == REFUSED_TRACE
            && s.parent == REFUSED_CLIENT_SPAN
            && s.service == "create-booking"
            && s.kind == SERVER
            && s.attributes.get("http.response.status_code").is_some_and(|c| c == "413")),
        "the request refused before its body was read (413) is not in its caller's trace"
    );
    println!("traces: a request refused before its body is read is in its caller's trace");
    for (service, metric, label) in [
        ("create-booking", "skybook_requests", ("code", "200")),
        ("record-booking-stats", "skybook_requests", ("code", "202")),
        ("relay-outbox", "skybook_events_sent", ("outcome", "published")),
    ] {
        anyhow::ensure!(
            export.pushed(service, metric, label),
            "{service} did not push {metric} {label:?} as it stopped; it pushed: {:?}",
            export.points.iter().filter(|p| p.service == service && p.metric == metric).collect::<Vec<_>>()
        );
    }
    println!(
        "traces: every process flushed its spans and pushed its metrics as it stopped ({} spans, {} points)",
        export.spans.len(),
        export.points.len()
    );
    Ok(())
}

/// The trace of a request create-booking refuses before reading its body.
const REFUSED_TRACE: &str = "5bf92f3577b34da6a3ce929d0e0e4737";
const REFUSED_CLIENT_SPAN: &str = "00f067aa0ba902c1";

/// A booking past the body limit (64 KiB): refused with 413 by its length
/// alone, before there is an event to read a trace context from.
async fn refuse_too_large(skybook: &Skybook) -> anyhow::Result<()> {
    let url = skybook.urls.get("create-booking").context("create-booking")?;
    let response = skybook
        .http
        .post(url)
        .header("traceparent", format!("00-{REFUSED_TRACE}-{REFUSED_CLIENT_SPAN}-01"))
        .header("content-type", "application/json")
        .body(format!("{{\"passenger_name\": \"{}\"}}", "x".repeat(70_000)))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 413, "a body past the limit was answered {}", response.status());
    Ok(())
}

/// A destination and a flight to it: the flight's id.
async fn route(skybook: &Skybook) -> anyhow::Result<String> {
    let destination = skybook
        .call(
            "create-destination",
            &json!({"name": "Traced", "tax_amount": "10.00", "is_promotion": false, "allows_pets": true}),
        )
        .await?;
    let flight = skybook
        .call(
            "create-flight",
            &json!({"destination_id": destination["id"], "flight_number": "TR1", "base_price": "100.00",
                    "departure_at": "2099-01-01T00:00:00Z", "capacity": 10}),
        )
        .await?;
    flight["id"].as_str().map(str::to_owned).context("a flight id")
}

/// The client's side of a booking: the trace it starts, and its own span.
struct Booking {
    trace_id: String,
    client_span: String,
    bookings: u64,
}

/// The vendor state the client's context carries, which every hop hands on.
const TRACESTATE: &str = "skybook=drill";

async fn book(skybook: &Skybook, flight: &str, trace_id: &str, n: u64) -> anyhow::Result<Booking> {
    let client_span = format!("00f067aa0ba902b{n}");
    let traceparent = format!("00-{trace_id}-{client_span}-01");
    let data = json!({"flight_id": flight, "passenger_name": format!("Traced {n}"), "passenger_age": 9, "has_pet": false});
    let headers = [("traceparent", traceparent.as_str()), ("tracestate", TRACESTATE)];
    skybook.call_with("create-booking", &data, &headers).await?;
    Ok(Booking { trace_id: trace_id.to_owned(), client_span, bookings: n })
}

/// Waits (60 s at most) until record-booking-stats has taken `events`
/// events (its 202s), as its /metrics counts them.
async fn wait_for_deliveries(skybook: &Skybook, events: u64) -> anyhow::Result<()> {
    let url = skybook.urls.get("record-booking-stats").context("record-booking-stats")?;
    let mut taken = 0.0;
    for _ in 0..120 {
        let text = skybook
            .http
            .get(format!("{url}/metrics"))
            .header("accept", "text/plain")
            .send()
            .await?
            .text()
            .await?;
        taken = text
            .lines()
            .filter(|l| l.starts_with("skybook_requests_total{") && l.contains("code=\"202\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if taken >= events as f64 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!("record-booking-stats took {taken} events, not {events}")
}

/// Waits (60 s at most) until get-stats counts `bookings` to the destination.
async fn wait_for_stats(skybook: &Skybook, bookings: u64) -> anyhow::Result<()> {
    let mut last = serde_json::Value::Null;
    for _ in 0..120 {
        let stats = skybook.call("get-stats", &json!({"destinations": 100, "candy_log": 0})).await?;
        let counted = stats["destinations"]
            .as_array()
            .and_then(|all| all.iter().find(|d| d["name"] == "Traced"))
            .and_then(|d| d["bookings"].as_u64());
        if counted == Some(bookings) {
            return Ok(());
        }
        last = stats;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!("the stats never counted booking {bookings}: {last}")
}

/// The chain of a booking's spans, each the parent of the next, or what is missing.
fn chain(spans: &[Span], booking: &Booking, path: &str, database: &str) -> anyhow::Result<String> {
    let trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == booking.trace_id).collect();
    let child_of = |parent: &Span, what: &str, test: &dyn Fn(&Span) -> bool| -> anyhow::Result<Span> {
        trace
            .iter()
            .find(|s| s.parent == parent.span_id && test(s))
            .map(|s| (*s).clone())
            .with_context(|| format!("no {what} under {}:{}", parent.service, parent.name))
    };
    let root = Span {
        service: "client".into(),
        name: "the client's request".into(),
        kind: CLIENT,
        trace_id: booking.trace_id.clone(),
        span_id: booking.client_span.clone(),
        parent: String::new(),
        trace_state: TRACESTATE.to_owned(),
        attributes: BTreeMap::new(),
    };
    let command = child_of(&root, "create-booking server span", &|s| {
        s.service == "create-booking" && s.kind == SERVER
    })?;
    anyhow::ensure!(
        trace.iter().any(|s| s.parent == command.span_id
            && s.attributes.get("db.system.name").is_some_and(|v| v == "postgresql")
            && s.attributes.get("db.namespace").is_some_and(|v| v == database)),
        "no PostgreSQL statement span on database {database} under create-booking"
    );
    let created = child_of(&command, "event creation span", &|s| {
        s.kind == PRODUCER && s.name == "CloudEvents Create skybook.booking.created"
    })?;
    let sent = child_of(&created, &format!("send by {path}"), &|s| {
        s.kind == CLIENT && s.attributes.get("skybook.outbox.path").is_some_and(|p| p == path)
    })?;
    let ingress = child_of(&sent, "broker ingress", &|s| s.service == "skybook-broker" && s.kind == SERVER)?;
    let publish = child_of(&ingress, "publish", &|s| s.service == "skybook-broker" && s.kind == PRODUCER)?;
    let stats =
        trace.iter().filter(|s| s.service == "record-booking-stats" && s.kind == SERVER).find_map(|stats| {
            let deliver = trace.iter().find(|d| d.span_id == stats.parent && d.kind == CONSUMER)?;
            (deliver.parent == publish.span_id).then(|| ((*deliver).clone(), (*stats).clone()))
        });
    let (deliver, stats) =
        stats.context("no delivery of the event to record-booking-stats under the publish")?;
    anyhow::ensure!(
        trace
            .iter()
            .any(|s| s.parent == stats.span_id
                && s.attributes.get("db.system.name").is_some_and(|v| v == "redis")),
        "no Redis command span under record-booking-stats"
    );
    anyhow::ensure!(
        stats.trace_state == TRACESTATE,
        "the client's tracestate {TRACESTATE:?} reached record-booking-stats as {:?}",
        stats.trace_state
    );
    Ok([&command, &created, &sent, &ingress, &publish, &deliver, &stats]
        .iter()
        .map(|s| format!("{}:{}", s.service, s.name))
        .collect::<Vec<_>>()
        .join(" > "))
}
