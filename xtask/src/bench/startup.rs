//! Cold start, footprint and size of every function, against the minimal
//! hyper binary: exec to the first successful reply to a real request (a
//! query reads PostgreSQL or Redis, a command writes), straight to
//! PostgreSQL and, for the functions that use it, through PgBouncer in
//! transaction mode as in a cluster; peak RSS idle and after 10,000
//! requests, and the stripped binary's size.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;
use shared::cloudevent::signature::{EventKeys, Signed};

use super::{Bench, Figure, file_mib, median};

const DESTINATION: &str = "00000000-0000-4000-8000-000000000000";
const FLIGHT: &str = "00000000-0000-4000-8000-000000000001";
const BOOKING: &str = "00000000-0000-4000-8000-0000000b0000";
const LOAD: usize = 10_000;

/// Numbers every request of the run, so writes that must be unique are.
static REQUESTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn next() -> usize {
    REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The functions measured, and the environment each needs besides the bench's.
/// ai-chat is left out: its first successful reply needs a model.
const FUNCTIONS: &[(&str, &[(&str, &str)])] = &[
    ("create-destination", &[]),
    ("update-destination", &[]),
    ("list-destinations", &[]),
    ("create-flight", &[]),
    ("list-flights", &[]),
    ("get-flight", &[]),
    ("create-booking", &[]),
    ("cancel-booking", &[]),
    ("get-booking", &[]),
    ("list-bookings", &[]),
    ("get-stats", &[]),
    ("record-booking-stats", &[]),
    ("relay-outbox", &[("K_SINK", "http://127.0.0.1:9/"), ("OUTBOX_GRACE_MS", "3600000")]),
    // The per-client limit would refuse the load run; lifted here, measured in tests.
    ("suggest-price", &[("RATE_LIMIT_PER_MINUTE", "1000000")]),
];

/// The n-th request to a function: extra headers and a JSON body, unique
/// where the function writes something that must be unique; an event signed
/// with the run's key, as the broker delivers it (a consumer takes nothing else).
fn request(keys: &EventKeys, function: &str, n: usize) -> (Vec<(&'static str, String)>, String) {
    let body = match function {
        "create-destination" => {
            json!({"name": format!("Cold {n} {}", std::process::id()), "tax_amount": "1"})
        }
        "update-destination" => json!({"id": DESTINATION, "is_promotion": n.is_multiple_of(2)}),
        "create-flight" => {
            json!({"destination_id": DESTINATION, "flight_number": format!("C{}", n % 10_000_000),
                                  "base_price": "100", "departure_at": format!("2099-01-01T00:{:02}:{:02}Z", (n / 60) % 60, n % 60),
                                  "capacity": 100})
        }
        "get-flight" => json!({"id": FLIGHT}),
        "suggest-price" => json!({"flight_id": FLIGHT}),
        "create-booking" => {
            json!({"flight_id": FLIGHT, "passenger_name": format!("Cold {n}"), "passenger_age": 30})
        }
        "cancel-booking" | "get-booking" => json!({"id": BOOKING}),
        "list-bookings" => json!({"flight_id": FLIGHT, "limit": 5}),
        "record-booking-stats" => {
            json!({"id": BOOKING, "destination_id": BOOKING, "destination_name": "Bench", "passenger_name": "Bench",
                                         "passenger_age": 8, "has_pet": false, "price": {"total": "950.00"}})
        }
        _ => json!({}),
    };
    let body = body.to_string();
    let headers = match function {
        "record-booking-stats" => event_headers(keys, "skybook.booking.created", n, &body, true),
        "relay-outbox" => event_headers(keys, "dev.knative.sources.ping", n, &body, false),
        _ => Vec::new(),
    };
    (headers, body)
}

/// A binary-mode event's headers; `numbered` gives it its place in the
/// producer's stream, as the outbox numbers a booking's events (far above
/// what the bench's bookings draw, and the n-th request's own).
fn event_headers(
    keys: &EventKeys,
    ty: &str,
    n: usize,
    data: &str,
    numbered: bool,
) -> Vec<(&'static str, String)> {
    let id = format!("bench-{}-{n}", std::process::id());
    let sequence = numbered.then(|| shared::cloudevent::sequence::format((1 << 41) + n as i64));
    let signature = keys.sign(Signed {
        id: &id,
        source: "/bench",
        ty,
        subject: None,
        sequence: sequence.as_deref(),
        data: data.as_bytes(),
    });
    let mut headers = vec![
        ("ce-specversion", "1.0".into()),
        ("ce-id", id),
        ("ce-source", "/bench".into()),
        ("ce-type", ty.into()),
        ("ce-skybooksig", signature),
    ];
    headers.extend(sequence.map(|sequence| ("ce-sequence", sequence)));
    headers
}

pub fn run(bench: &Bench) -> anyhow::Result<Vec<Figure>> {
    bench.seed(200)?;
    super::pipeline::redis_cli(&["FLUSHDB"])?;
    let runs = bench.runs.max(5);
    let hello_cold =
        median((0..runs).map(|_| cold_start(bench, "hello-baseline", &[])).collect::<anyhow::Result<_>>()?);
    let (hello_idle, hello_loaded) = footprint(bench, "hello-baseline", &[])?;
    let hello_size = file_mib(&bench.binary("hello-baseline"));
    let mut figures = vec![
        Figure::plain("hello-baseline cold start", hello_cold, "ms"),
        Figure::plain("hello-baseline peak RSS idle", hello_idle, "MiB"),
        Figure::plain("hello-baseline binary", hello_size, "MiB"),
    ];
    let catalog = catalogue::functions();
    let pooled_url = crate::services::via_pooler(&bench.database_url);
    for (function, env) in FUNCTIONS {
        let cold =
            median((0..runs).map(|_| cold_start(bench, function, env)).collect::<anyhow::Result<_>>()?);
        if catalog.iter().any(|f| f.name() == *function && f.database()) {
            let mut pooled_env = env.to_vec();
            pooled_env.extend([("DATABASE_URL", pooled_url.as_str()), ("DB_POOL_MODE", "transaction")]);
            let pooled = median(
                (0..runs).map(|_| cold_start(bench, function, &pooled_env)).collect::<anyhow::Result<_>>()?,
            );
            eprintln!("bench: {function}: cold start through PgBouncer {pooled:.2} ms");
            figures.push(Figure::against(
                format!("{function} cold start through PgBouncer"),
                pooled,
                "ms",
                hello_cold,
            ));
        }
        let (idle, loaded) = footprint(bench, function, env)?;
        eprintln!(
            "bench: {function}: cold start {cold:.2} ms, RSS {idle:.1} MiB idle, {loaded:.1} MiB loaded"
        );
        figures.push(Figure::against(format!("{function} cold start"), cold, "ms", hello_cold));
        figures.push(Figure::against(format!("{function} peak RSS idle"), idle, "MiB", hello_idle));
        figures.push(Figure::against(
            format!("{function} peak RSS after 10,000 requests"),
            loaded,
            "MiB",
            hello_loaded,
        ));
        figures.push(Figure::against(
            format!("{function} binary, stripped"),
            file_mib(&bench.binary(function)),
            "MiB",
            hello_size,
        ));
    }
    Ok(figures)
}

/// Milliseconds from exec to the first 2xx reply.
fn cold_start(bench: &Bench, function: &str, env: &[(&str, &str)]) -> anyhow::Result<f64> {
    let (headers, body) = request(&crate::dev::event_keys(&bench.signing_key)?, function, next());
    let process = bench.start(function, env)?;
    let deadline = process.started + Duration::from_secs(10);
    let mut last = None;
    loop {
        match post(process.port, &headers, &body) {
            Some(status) if (200..300).contains(&status) => {
                return Ok(process.started.elapsed().as_secs_f64() * 1000.0);
            }
            Some(status) => last = Some(status),
            None => {}
        }
        if Instant::now() > deadline {
            bail!("{function} gave no successful reply within 10 s (the last: {last:?})");
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// One POST / over a fresh connection; the status, or None if it could not be sent.
fn post(port: u16, headers: &[(&str, String)], body: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Peak RSS (MiB) just started, and after 10,000 requests from 8 connections.
fn footprint(bench: &Bench, function: &str, env: &[(&str, &str)]) -> anyhow::Result<(f64, f64)> {
    let process = bench.start(function, env)?;
    process.wait_listening()?;
    std::thread::sleep(Duration::from_millis(200));
    let idle = process.peak_rss_mib()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let port = process.port;
    let function = function.to_owned();
    let keys = crate::dev::event_keys(&bench.signing_key)?;
    let failures = runtime.block_on(async move {
        let client = reqwest::Client::builder().pool_max_idle_per_host(8).build()?;
        let mut workers = tokio::task::JoinSet::new();
        for worker in 0..8 {
            let (client, function, keys) = (client.clone(), function.clone(), keys.clone());
            workers.spawn(async move {
                let mut failures = 0usize;
                for _ in (worker..LOAD).step_by(8) {
                    let (headers, body) = request(&keys, &function, next());
                    let mut call = client
                        .post(format!("http://127.0.0.1:{port}/"))
                        .header("content-type", "application/json");
                    for (name, value) in headers {
                        call = call.header(name, value);
                    }
                    match call.body(body).send().await {
                        Ok(r) if r.status().is_success() => {}
                        _ => failures += 1,
                    }
                }
                failures
            });
        }
        let mut failures = 0;
        while let Some(done) = workers.join_next().await {
            failures += done.unwrap_or(LOAD);
        }
        Ok::<_, anyhow::Error>(failures)
    })?;
    if failures > 0 {
        eprintln!("bench: {failures} of {LOAD} requests failed");
    }
    let loaded = process.peak_rss_mib()?;
    Ok((idle, loaded))
}
