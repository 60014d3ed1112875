//! create-booking on the stack the README starts, under wrk at 1, 16 and 64
//! clients over many flights and at 16 on one hot flight: with events on
//! (the stack's own create-booking, publishing to the local broker, which
//! delivers to record-booking-stats), and off (one more create-booking as
//! the stack starts it, without `K_SINK`, the relay held); against pgbench
//! running the same SQL with the same payloads: the function's own statement
//! ([`as_quoted`]) and the transaction under the flight's lock. CPU per
//! booking by process for each. Every run is checked: each reply is one
//! booking (no key sent twice), each pgbench transaction booked, and with
//! events on every booking reaches the stats before the CPU is read.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use super::as_quoted::{self, Written};
use super::stack::{BenchStack, Load, cpu_figures, pgbench_cost};
use super::{Bench, Figure, median, median_of, pipeline, sql_value};

/// Clients, flights, and what the flights are: many (contention spread
/// out), or one (every client on one row).
const CASES: [(u32, u32, &str); 4] = [
    (1, 200, "many flights"),
    (16, 200, "many flights"),
    (64, 200, "many flights"),
    (16, 1, "one hot flight"),
];

pub fn run(bench: &Bench, stack: &BenchStack) -> anyhow::Result<Vec<Figure>> {
    book_once(bench, stack)?;
    let (quoted, under_lock) = (as_quoted::script(bench)?, bench.root.join(UNDER_LOCK));
    let mut figures = Vec::new();
    for (clients, flights, label) in CASES {
        let (mut on, mut off, mut baseline, mut locked) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..bench.runs {
            on.push(with_events(bench, stack, clients, flights)?);
            let (load, written) = without_events(bench, stack, clients, flights)?;
            off.push(load);
            let defines = written.defines()?;
            bench.seed(flights)?;
            baseline.push(pgbench_cost(bench, || pgbench(bench, &quoted, &defines, clients, flights))?);
            bench.seed(flights)?;
            locked.push(pgbench_cost(bench, || pgbench(bench, &under_lock, &defines, clients, flights))?);
        }
        let summaries = |loads: &[Load]| loads.iter().map(|l| l.summary.clone()).collect::<Vec<Value>>();
        let (on_runs, off_runs) = (summaries(&on), summaries(&off));
        let (rps_on, rps_off) = (median_of(&on_runs, "rps"), median_of(&off_runs, "rps"));
        let tps = |runs: &[(f64, f64)]| median(runs.iter().map(|(tps, _)| *tps).collect());
        let pg_us = |runs: &[(f64, f64)]| median(runs.iter().map(|(_, cpu)| cpu * 1e6).collect());
        let (tps_locked, pg_us_locked) = (tps(&locked), pg_us(&locked));
        let (tps, pg_us) = (tps(&baseline), pg_us(&baseline));
        eprintln!(
            "bench: create-booking {clients} clients, {label}: events on {rps_on:.0} req/s, \
             off {rps_off:.0} req/s, pgbench {tps:.0} tx/s (its transaction under the lock {tps_locked:.0})"
        );
        let name = format!("create-booking {clients} clients, {label}");
        figures.push(Figure::against(format!("{name}, events on: throughput"), rps_on, "req/s", tps));
        figures.push(Figure::against(
            format!("{name}, events on: throughput against events off"),
            rps_on,
            "req/s",
            rps_off,
        ));
        figures.push(Figure::plain(format!("{name}, events on: p50"), median_of(&on_runs, "p50_ms"), "ms"));
        figures.push(Figure::plain(format!("{name}, events on: p99"), median_of(&on_runs, "p99_ms"), "ms"));
        figures.push(Figure::against(format!("{name}, events off: throughput"), rps_off, "req/s", tps));
        figures.push(Figure::against(
            format!("{name}, events off: throughput against pgbench's transaction under the lock"),
            rps_off,
            "req/s",
            tps_locked,
        ));
        figures.push(Figure::plain(format!("{name}, events off: p99"), median_of(&off_runs, "p99_ms"), "ms"));
        figures.push(Figure::plain(format!("{name}: PostgreSQL's CPU per pgbench transaction"), pg_us, "us"));
        figures.push(Figure::plain(
            format!("{name}: PostgreSQL's CPU per pgbench transaction under the lock"),
            pg_us_locked,
            "us",
        ));
        figures.extend(cpu_figures(&format!("{name}, events on"), &on, pg_us));
        figures.extend(cpu_figures(&format!("{name}, events off"), &off, pg_us));
    }
    Ok(figures)
}

/// The stack's create-booking, publishing to the stack's broker; the CPU is
/// read once the stats count every booking the run made.
fn with_events(bench: &Bench, stack: &BenchStack, clients: u32, flights: u32) -> anyhow::Result<Load> {
    bench.seed(flights)?;
    stack.rebuild_read_model()?;
    let port = stack.port("create-booking")?;
    stack.measure(&[], || {
        let summary = bench.wrk_as(port, "booking", clients, flights, Some(&stack.token))?;
        let made = check_bookings(bench, &summary, clients)?;
        wait_for_stats(made)?;
        Ok((summary, made as f64))
    })
}

/// One booking as wrk makes them, its answer read whole: a load of
/// refusals would measure nothing.
fn book_once(bench: &Bench, stack: &BenchStack) -> anyhow::Result<()> {
    bench.seed(1)?;
    let bearer = format!("Bearer {}", stack.token);
    let key = uuid::Uuid::new_v4().to_string();
    let headers =
        [("content-type", "application/json"), ("authorization", bearer.as_str()), ("idempotency-key", &key)];
    let body = r#"{"flight_id":"00000000-0000-4000-8000-000000000001","passenger_name":"Once","passenger_age":30,"has_pet":false}"#;
    let (head, reply) =
        crate::observability::request(&stack.stack.urls["create-booking"], "POST", &headers, body)?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!(
            "create-booking refused the bench's booking: {}: {reply}",
            head.lines().next().unwrap_or_default()
        );
    }
    Ok(())
}

/// create-booking as the stack starts it, without a sink; the relay is
/// held meanwhile, so nothing publishes the outbox's rows on the same cores.
/// With a booking it wrote, read before the relay publishes its event.
fn without_events(
    bench: &Bench,
    stack: &BenchStack,
    clients: u32,
    flights: u32,
) -> anyhow::Result<(Load, Written)> {
    bench.seed(flights)?;
    stack.rebuild_read_model()?;
    let process = stack.another("create-booking", |env| env.retain(|(key, _)| key != "K_SINK"))?;
    stack.stack.processes.hold("relay-outbox")?;
    let load = stack
        .measure(&[("create-booking, events off", &process)], || {
            let summary = bench.wrk_as(process.port, "booking", clients, flights, Some(&stack.token))?;
            let made = check_bookings(bench, &summary, clients)?;
            Ok((summary, made as f64))
        })
        .and_then(|load| Ok((load, Written::read(bench)?)));
    stack.stack.processes.release("relay-outbox")?;
    load
}

/// Every event reaches the stats: the benchmark measured the whole path.
fn wait_for_stats(made: i64) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let counted: i64 =
            pipeline::redis_cli(&["GET", stats::keys::TOTAL_BOOKINGS])?.trim().parse().unwrap_or(0);
        if counted >= made {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("events on: {made} bookings, but the stats counted {counted} after a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Each successful reply made one booking: no Idempotency-Key was sent
/// twice (a replay would reply without booking). Requests still in flight
/// when wrk stopped may have booked without being counted. Returns the
/// bookings the run made.
pub(super) fn check_bookings(bench: &Bench, summary: &Value, clients: u32) -> anyhow::Result<i64> {
    let errors = summary["errors"].as_i64().unwrap_or(0);
    // Room for every booking and every key new: any refusal is a broken run.
    if errors > 0 {
        bail!("{errors} of {} bookings were not made (not 2xx, or no answer)", summary["requests"]);
    }
    let replies = summary["requests"].as_i64().unwrap_or(0);
    // The seed leaves one booking behind.
    let made: i64 = sql_value(bench, "SELECT count(*) - 1 FROM bookings")?.parse()?;
    if made < replies || made > replies + i64::from(clients) {
        bail!("{replies} successful replies but {made} bookings: keys were not unique");
    }
    Ok(made)
}

/// What it sends for one the read model cannot quote: the transaction that
/// reads the flight under its lock.
pub(super) const UNDER_LOCK: &str = "bench/create_booking.pgbench.sql";

/// pgbench running `script` on a fresh seed, checked: each transaction made
/// a booking (a script whose seat clause matched nothing would be quick).
pub(super) fn pgbench(
    bench: &Bench,
    script: &Path,
    defines: &[String],
    clients: u32,
    flights: u32,
) -> anyhow::Result<f64> {
    let tps = pgbench_script(bench, script, defines, clients, flights)?;
    // The seed leaves one booking behind.
    let made: f64 = sql_value(bench, "SELECT count(*) - 1 FROM bookings")?.parse()?;
    let ran = tps * f64::from(bench.seconds);
    if made < 0.9 * ran {
        bail!("pgbench ran {} {ran:.0} times but booked {made}: it measured nothing", script.display());
    }
    Ok(tps)
}

/// pgbench running `script` at `clients` with the variables `defines`
/// (`name=value`) beside `flights` and `departs`, prepared statements as
/// the function's driver sends them: the same work on the wire.
pub fn pgbench_script(
    bench: &Bench,
    script: &Path,
    defines: &[String],
    clients: u32,
    flights: u32,
) -> anyhow::Result<f64> {
    let output = Command::new("pgbench")
        // Plain TCP, as PgBouncer talks to PostgreSQL in the stack: TLS,
        // which libpq prefers, would charge the baseline for encrypting
        // every message on loopback.
        .env("PGSSLMODE", "disable")
        .args([
            "-n",
            "-M",
            "prepared",
            &format!("-j{}", clients.min(2)),
            &format!("-c{clients}"),
            &format!("-T{}", bench.seconds),
        ])
        .args(["-D", &format!("flights={flights}"), "-D", &format!("departs={}", bench.departs)])
        .args(defines.iter().flat_map(|define| ["-D", define]))
        .arg("-f")
        .arg(script)
        .arg(&bench.database_url)
        .output()
        .context("pgbench")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l["tps = ".len()..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("pgbench printed no tps: {text}{}", String::from_utf8_lossy(&output.stderr)))
}
