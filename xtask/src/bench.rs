//! Benchmarks, each against a baseline measured in the same run:
//! `cargo xtask bench booking` drives create-booking with wrk and the same SQL
//! transaction with pgbench, at the same concurrency; `cargo xtask bench
//! pipeline` measures booking events from the broker's ingress to Redis
//! against the same Redis script run by redis-benchmark.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;

use crate::services;

#[derive(clap::Subcommand)]
pub enum Bench {
    /// create-booking over HTTP against the same SQL transaction in pgbench.
    Booking(Args),
    /// Events from the broker ingress to the Redis stats, against redis-benchmark.
    Pipeline(crate::pipeline::Args),
}

pub fn run(bench: Bench) -> anyhow::Result<()> {
    match bench {
        Bench::Booking(args) => booking(args),
        Bench::Pipeline(args) => crate::pipeline::run(args),
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Concurrent clients (wrk connections, pgbench clients).
    #[arg(long, default_value_t = 32)]
    clients: u32,
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 10)]
    seconds: u32,
    /// Flights the bookings spread over (1: every client on one hot flight).
    #[arg(long, default_value_t = 200)]
    flights: u32,
    /// Runs of each measurement; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn booking(args: Args) -> anyhow::Result<()> {
    let root = services::workspace_root();
    services::ensure()?;
    need("wrk", "apt-get install wrk")?;
    need("pgbench", "apt-get install postgresql-client")?;
    let url = bench_database_url()?;
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(services::migrate(&url))?;
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--package", "bookings", "--bin", "create-booking"])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("release build failed");
    }

    let mut function = Vec::new();
    let mut baseline = Vec::new();
    for run in 1..=args.runs {
        seed(&root, &url, args.flights)?;
        let wrk = wrk_booking(&root, &url, &args)?;
        eprintln!("bench: run {run}: create-booking {:.0} req/s, p99 {:.2} ms", wrk["rps"], wrk["p99_ms"]);
        function.push(wrk);
        seed(&root, &url, args.flights)?;
        let tps = pgbench_booking(&root, &url, &args)?;
        eprintln!("bench: run {run}: pgbench {tps:.0} tx/s");
        baseline.push(tps);
    }
    let rps = median(function.iter().map(|w| w["rps"].as_f64().unwrap_or(0.0)).collect());
    let p50 = median(function.iter().map(|w| w["p50_ms"].as_f64().unwrap_or(0.0)).collect());
    let p99 = median(function.iter().map(|w| w["p99_ms"].as_f64().unwrap_or(0.0)).collect());
    let errors: u64 = function.iter().map(|w| w["errors"].as_u64().unwrap_or(0)).sum();
    let tps = median(baseline);
    let ratio = if tps > 0.0 { rps / tps } else { 0.0 };

    println!(
        "\ncreate-booking, {} clients, {} flights, {} s x {} runs (medians)",
        args.clients, args.flights, args.seconds, args.runs
    );
    println!("{:<34} {:>12}", "figure", "value");
    println!("{:<34} {:>12.0}", "create-booking over HTTP, req/s", rps);
    println!("{:<34} {:>12.2}", "create-booking p50, ms", p50);
    println!("{:<34} {:>12.2}", "create-booking p99, ms", p99);
    println!("{:<34} {:>12}", "non-2xx or socket errors", errors);
    println!("{:<34} {:>12.0}", "baseline: pgbench same tx, tx/s", tps);
    println!("{:<34} {:>12.2}", "ratio (function / pgbench)", ratio);

    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let results = json!({
        "scenario": "create-booking",
        "clients": args.clients, "flights": args.flights, "seconds": args.seconds, "runs": args.runs,
        "figures": [
            {"figure": "create-booking throughput", "value": rps, "unit": "req/s", "baseline": tps, "ratio": ratio},
            {"figure": "create-booking p50", "value": p50, "unit": "ms"},
            {"figure": "create-booking p99", "value": p99, "unit": "ms"},
            {"figure": "errors", "value": errors, "unit": "count"},
        ],
    });
    std::fs::write(dir.join("booking.json"), serde_json::to_string_pretty(&results)?)?;
    println!("\nwritten to target/bench/booking.json");
    Ok(())
}

pub fn need(tool: &str, install: &str) -> anyhow::Result<()> {
    if Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()?
        .success()
    {
        return Ok(());
    }
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    if root {
        eprintln!("bench: installing {tool}");
        let ok = Command::new("sh")
            .args(["-c", &format!("apt-get update -qq && DEBIAN_FRONTEND=noninteractive {install} -y -qq")])
            .status()?
            .success();
        if ok {
            return Ok(());
        }
    }
    bail!("{tool} is needed: {install}")
}

/// The bench database beside the development one: `<name>_bench`.
pub fn bench_database_url() -> anyhow::Result<String> {
    let url = services::database_url();
    let options = PgConnectOptions::from_str(&url).context("DATABASE_URL")?;
    let name = options.get_database().unwrap_or("skybook");
    let base = url.rsplit_once('/').map(|(base, _)| base).context("DATABASE_URL has no database")?;
    Ok(format!("{base}/{name}_bench"))
}

pub fn seed(root: &Path, url: &str, flights: u32) -> anyhow::Result<()> {
    let status = Command::new("psql")
        .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-v", &format!("flights={flights}"), "-f"])
        .arg(root.join("bench/seed.sql"))
        .stdout(Stdio::null())
        .status()
        .context("psql")?;
    if !status.success() {
        bail!("seeding the bench database failed");
    }
    Ok(())
}

fn wrk_booking(root: &Path, url: &str, args: &Args) -> anyhow::Result<Value> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut function = Command::new(root.join("target/release/create-booking"))
        .env("PORT", port.to_string())
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .env_remove("K_SINK")
        .env_remove("AUTH_API_KEYS")
        .spawn()
        .context("starting create-booking")?;
    let result = (|| {
        wait_listening(port, Duration::from_secs(10))?;
        let output = Command::new("wrk")
            .args(["-t2", &format!("-c{}", args.clients), &format!("-d{}s", args.seconds), "--latency", "-s"])
            .arg(root.join("bench/create_booking.lua"))
            .arg(format!("http://127.0.0.1:{port}/"))
            .env("FLIGHTS", args.flights.to_string())
            .output()
            .context("wrk")?;
        let text = String::from_utf8_lossy(&output.stdout);
        let line =
            text.lines().find_map(|l| l.strip_prefix("WRK_JSON ")).context("wrk printed no summary")?;
        Ok(serde_json::from_str(line)?)
    })();
    stop(&mut function);
    result
}

fn pgbench_booking(root: &Path, url: &str, args: &Args) -> anyhow::Result<f64> {
    let output = Command::new("pgbench")
        .args(["-n", "-j2", &format!("-c{}", args.clients), &format!("-T{}", args.seconds)])
        .args(["-D", &format!("flights={}", args.flights), "-f"])
        .arg(root.join("bench/create_booking.pgbench.sql"))
        .arg(url)
        .output()
        .context("pgbench")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l["tps = ".len()..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| {
            format!("pgbench printed no tps: {text}{}", String::from_utf8_lossy(&output.stderr))
        })?;
    Ok(tps)
}

pub fn wait_listening(port: u16, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > limit {
            bail!("nothing listens on {port}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

pub fn stop(child: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
}

pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}
