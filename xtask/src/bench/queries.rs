//! get-flight and list-flights on the stack the README starts, over 10,000
//! flights at 16 clients, against the same SELECT in pgbench (prepared,
//! straight to PostgreSQL): the database alone, the bar a read must reach.
//! CPU per request by process for each. Then how stale the read model they
//! answer from is: from a booking's reply (its commit) to get-flight
//! showing the seat taken.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use serde_json::Value;

use super::booking::pgbench_script;
use super::stack::{BenchStack, cpu_figures, pgbench_cost};
use super::{Bench, Figure, median, median_of};

const FLIGHTS: u32 = 10_000;
const CLIENTS: u32 = 16;

pub fn run(bench: &Bench, stack: &BenchStack) -> anyhow::Result<Vec<Figure>> {
    bench.seed(FLIGHTS)?;
    stack.rebuild_read_model()?;
    let mut figures = Vec::new();
    for (function, mode, script) in [
        ("get-flight", "get-flight", "bench/get_flight.pgbench.sql"),
        ("list-flights", "list-flights", "bench/list_flights.pgbench.sql"),
    ] {
        let port = stack.port(function)?;
        let before = tracked_reads(stack, function)?;
        let (mut loads, mut pgbench) = (Vec::new(), Vec::new());
        for _ in 0..bench.runs {
            loads.push(stack.measure(&[], || {
                let summary = bench.wrk_as(port, mode, CLIENTS, FLIGHTS, None)?;
                if summary["errors"].as_i64().unwrap_or(0) > 0 {
                    bail!("{function}: {} of {} requests failed", summary["errors"], summary["requests"]);
                }
                let answered = summary["requests"].as_f64().unwrap_or(0.0);
                Ok((summary, answered))
            })?);
            pgbench.push(pgbench_cost(bench, || {
                pgbench_script(bench, &bench.root.join(script), &[], CLIENTS, FLIGHTS)
            })?);
        }
        let after = tracked_reads(stack, function)?;
        let (hits, misses) = (after.0 - before.0, after.1 - before.1);
        let from_memory = 100.0 * hits / (hits + misses).max(1.0);
        let runs: Vec<Value> = loads.iter().map(|l| l.summary.clone()).collect();
        let (rps, tps) = (median_of(&runs, "rps"), median(pgbench.iter().map(|(tps, _)| *tps).collect()));
        let pg_us = median(pgbench.iter().map(|(_, cpu)| cpu * 1e6).collect());
        eprintln!(
            "bench: {function}: {rps:.0} req/s (pgbench, same SELECT: {tps:.0} tx/s); \
             {from_memory:.2}% of its reads of the read model from memory ({misses} from Redis)"
        );
        let name = format!("{function}, 10,000 flights, 16 clients");
        figures.push(Figure::against(format!("{name}: throughput against pgbench"), rps, "req/s", tps));
        figures.push(Figure::plain(format!("{name}: p99"), median_of(&runs, "p99_ms"), "ms"));
        figures.push(Figure::plain(format!("{name}: reads of the read model from memory"), from_memory, "%"));
        figures.push(Figure::plain(format!("{name}: PostgreSQL's CPU per pgbench SELECT"), pg_us, "us"));
        figures.extend(cpu_figures(&name, &loads, pg_us));
    }
    figures.extend(staleness(stack)?);
    Ok(figures)
}

/// How many of `function`'s reads of the flights read model memory has
/// answered so far, and how many Redis (its `/metrics`).
fn tracked_reads(stack: &BenchStack, function: &str) -> anyhow::Result<(f64, f64)> {
    let url = format!("{}/metrics", stack.stack.urls[function]);
    let (head, body) = crate::observability::request(&url, "GET", &[], "")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("{function}'s metrics: {}", head.lines().next().unwrap_or_default());
    }
    let count = |outcome: &str| {
        let series = format!("skybook_redis_tracked_reads_total{{outcome=\"{outcome}\"}} ");
        body.lines()
            .find_map(|line| line.strip_prefix(&series))
            .map_or(Ok(0.0), |value| value.trim().parse::<f64>().context("a count of tracked reads"))
    };
    Ok((count("hit")?, count("miss")?))
}

/// Bookings one after another, each on a flight of its own: from the reply
/// (after the commit) until get-flight shows one seat fewer, polled.
fn staleness(stack: &BenchStack) -> anyhow::Result<Vec<Figure>> {
    const BOOKINGS: u32 = 300;
    let (book, get) = (&stack.stack.urls["create-booking"], &stack.stack.urls["get-flight"]);
    let bearer = format!("Bearer {}", stack.token);
    let seats_left = |flight: &str| -> anyhow::Result<i64> {
        let query = format!(r#"{{"id":"{flight}"}}"#);
        let (_, body) =
            crate::observability::request(get, "POST", &[("content-type", "application/json")], &query)?;
        let reply: serde_json::Value = serde_json::from_str(&body).context("get-flight's reply")?;
        reply["seats_left"].as_i64().context("seats_left")
    };
    let mut delays = Vec::new();
    for n in 1..=BOOKINGS {
        let flight = format!("00000000-0000-4000-8000-{n:012}");
        let before = seats_left(&flight)?;
        let body = format!(
            r#"{{"flight_id":"{flight}","passenger_name":"Fresh {n}","passenger_age":30,"has_pet":false}}"#
        );
        let key = uuid::Uuid::new_v4().to_string();
        let headers = [
            ("content-type", "application/json"),
            ("authorization", bearer.as_str()),
            ("idempotency-key", &key),
        ];
        let (head, reply) = crate::observability::request(book, "POST", &headers, &body)?;
        let replied = Instant::now();
        if !head.starts_with("HTTP/1.1 200") {
            bail!("create-booking: {}: {reply}", head.lines().next().unwrap_or_default());
        }
        while seats_left(&flight)? != before - 1 {
            if replied.elapsed() > Duration::from_secs(10) {
                bail!("flight {flight}: the booking's seat is not in the read model after 10 s");
            }
        }
        delays.push(replied.elapsed().as_secs_f64() * 1000.0);
    }
    let (p50, p99) = (super::percentile(&delays, 0.5), super::percentile(&delays, 0.99));
    eprintln!("bench: a booking's seat in the flights read model: p50 {p50:.2} ms, p99 {p99:.2} ms");
    Ok(vec![
        Figure::plain("a booking's reply to its seat seen by get-flight: p50", p50, "ms"),
        Figure::plain("a booking's reply to its seat seen by get-flight: p99", p99, "ms"),
    ])
}
