//! create-booking under load (wrk) at 1, 16 and 64 clients, over many flights
//! and on one hot flight: with events on (the broker running, `K_SINK` set,
//! the stats consumer applying every event), as it runs; with events sent to
//! a sink that answers at once (the function's own cost of publishing,
//! without the broker's work on the same cores); and without events; against
//! the same SQL transaction in pgbench. Every run is checked: each reply is
//! one booking (no key sent twice), and with events on every booking reaches
//! the stats.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use super::{Bench, Figure, median, median_of, pipeline, sql_value};

const CLIENTS: [u32; 3] = [1, 16, 64];
/// Many flights (contention spread out), and one (every client on one row).
const FLIGHTS: [(u32, &str); 2] = [(200, "many flights"), (1, "one hot flight")];

pub fn run(bench: &Bench) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for (flights, label) in FLIGHTS {
        for clients in CLIENTS {
            let (mut on, mut instant, mut off, mut baseline) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..bench.runs {
                on.push(with_events(bench, clients, flights)?);
                instant.push(to_an_instant_sink(bench, clients, flights)?);
                off.push(without_events(bench, clients, flights)?);
                bench.seed(flights)?;
                baseline.push(pgbench(bench, clients, flights)?);
            }
            let (rps_on, rps_off, tps) = (median_of(&on, "rps"), median_of(&off, "rps"), median(baseline));
            eprintln!(
                "bench: create-booking {clients} clients, {label}: events on {rps_on:.0} req/s, \
                 off {rps_off:.0} req/s, pgbench {tps:.0} tx/s"
            );
            let name = format!("create-booking {clients} clients, {label}");
            figures.push(Figure::against(format!("{name}, events on: throughput"), rps_on, "req/s", tps));
            figures.push(Figure::against(
                format!("{name}, events on: throughput against events off"),
                rps_on,
                "req/s",
                rps_off,
            ));
            figures.push(Figure::plain(format!("{name}, events on: p50"), median_of(&on, "p50_ms"), "ms"));
            figures.push(Figure::plain(format!("{name}, events on: p99"), median_of(&on, "p99_ms"), "ms"));
            figures.push(Figure::against(
                format!("{name}, events to a sink that answers at once: throughput against events off"),
                median_of(&instant, "rps"),
                "req/s",
                rps_off,
            ));
            figures.push(Figure::against(format!("{name}, events off: throughput"), rps_off, "req/s", tps));
            figures.push(Figure::plain(format!("{name}, events off: p99"), median_of(&off, "p99_ms"), "ms"));
        }
    }
    Ok(figures)
}

/// create-booking as it runs: publishing to the local broker, which
/// delivers to record-booking-stats. Waits until the stats count every
/// booking the run made.
fn with_events(bench: &Bench, clients: u32, flights: u32) -> anyhow::Result<Value> {
    bench.seed(flights)?;
    let path = pipeline::event_path(bench)?;
    let process = bench.start("create-booking", &[("DB_POOL_SIZE", "8"), ("K_SINK", &path.ingress)])?;
    process.wait_listening()?;
    let summary = bench.wrk(process.port, "booking", clients, flights)?;
    let made = check_bookings(bench, &summary, clients)?;
    // Every event reaches the stats: the benchmark measured the whole path.
    let started = Instant::now();
    loop {
        let counted: i64 =
            pipeline::redis_cli(&["GET", stats::keys::TOTAL_BOOKINGS])?.trim().parse().unwrap_or(0);
        if counted >= made {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("events on: {made} bookings, but the stats counted {counted} after a minute");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(summary)
}

/// Events on, to the hello server (which answers anything at once): what
/// publishing costs the function itself.
fn to_an_instant_sink(bench: &Bench, clients: u32, flights: u32) -> anyhow::Result<Value> {
    bench.seed(flights)?;
    let sink = bench.start("hello-baseline", &[])?;
    let url = format!("http://127.0.0.1:{}/", sink.port);
    let process = bench.start("create-booking", &[("DB_POOL_SIZE", "8"), ("K_SINK", &url)])?;
    for p in [&sink, &process] {
        p.wait_listening()?;
    }
    let summary = bench.wrk(process.port, "booking", clients, flights)?;
    check_bookings(bench, &summary, clients)?;
    Ok(summary)
}

fn without_events(bench: &Bench, clients: u32, flights: u32) -> anyhow::Result<Value> {
    bench.seed(flights)?;
    let process = bench.start("create-booking", &[("DB_POOL_SIZE", "8")])?;
    process.wait_listening()?;
    let summary = bench.wrk(process.port, "booking", clients, flights)?;
    check_bookings(bench, &summary, clients)?;
    Ok(summary)
}

/// Each successful reply made one booking: no Idempotency-Key was sent
/// twice (a replay would reply without booking). Requests still in flight
/// when wrk stopped may have booked without being counted. Returns the
/// bookings the run made.
pub(super) fn check_bookings(bench: &Bench, summary: &Value, clients: u32) -> anyhow::Result<i64> {
    let replies = summary["requests"].as_i64().unwrap_or(0) - summary["errors"].as_i64().unwrap_or(0);
    // The seed leaves one booking behind.
    let made: i64 = sql_value(bench, "SELECT count(*) - 1 FROM bookings")?.parse()?;
    if made < replies || made > replies + i64::from(clients) {
        bail!("{replies} successful replies but {made} bookings: keys were not unique");
    }
    Ok(made)
}

fn pgbench(bench: &Bench, clients: u32, flights: u32) -> anyhow::Result<f64> {
    pgbench_script(bench, "bench/create_booking.pgbench.sql", clients, flights)
}

/// pgbench running `script` at `clients`, prepared statements as the
/// function's driver sends them: the same work on the wire.
pub fn pgbench_script(bench: &Bench, script: &str, clients: u32, flights: u32) -> anyhow::Result<f64> {
    let output = Command::new("pgbench")
        .args([
            "-n",
            "-M",
            "prepared",
            &format!("-j{}", clients.min(2)),
            &format!("-c{clients}"),
            &format!("-T{}", bench.seconds),
        ])
        .args(["-D", &format!("flights={flights}"), "-f"])
        .arg(bench.root.join(script))
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
