//! `cargo xtask bench pipeline`: booking events from the broker's ingress to
//! the Redis stats (throughput, and latency from a booking's reply to its
//! stats being visible), against the same Redis script run by redis-benchmark.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::bench::{bench_database_url, need, seed, stop, wait_listening};
use crate::services;

#[derive(clap::Args)]
pub struct Args {
    /// Events sent for the throughput figure.
    #[arg(long, default_value_t = 5000)]
    events: usize,
    /// Bookings made one by one for the latency figure.
    #[arg(long, default_value_t = 1000)]
    bookings: usize,
    /// Concurrent senders for the throughput figure.
    #[arg(long, default_value_t = 32)]
    clients: usize,
}

/// The Redis database the bench uses (0 is the local stack's, 1 to 15 the tests').
const BENCH_REDIS_DB: u8 = 15;

pub fn run(args: Args) -> anyhow::Result<()> {
    let root = services::workspace_root();
    services::ensure()?;
    need("redis-benchmark", "apt-get install redis-tools")?;
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--package",
            "broker",
            "--package",
            "stats",
            "--package",
            "bookings",
            "--bins",
        ])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("release build failed");
    }
    let url = bench_database_url()?;
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(services::migrate(&url))?;
    seed(&root, &url, 20)?;
    let redis_url = format!(
        "{}/{BENCH_REDIS_DB}",
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
    );
    redis_cli(&["FLUSHDB"])?;

    let bin = root.join("target/release");
    let stats_port = free_port()?;
    let broker_port = free_port()?;
    let booking_port = free_port()?;
    let ingress = format!("http://127.0.0.1:{broker_port}/skybook/default");
    let mut processes: Vec<Child> = Vec::new();
    let started = (|| -> anyhow::Result<()> {
        processes.push(
            Command::new(bin.join("record-booking-stats"))
                .env("PORT", stats_port.to_string())
                .env("REDIS_URL", &redis_url)
                .env("RUST_LOG", "warn")
                .spawn()?,
        );
        processes.push(
            Command::new(bin.join("skybook-broker"))
                .arg("--manifests")
                .arg(root.join("knative"))
                .arg("--service")
                .arg(format!("record-booking-stats=http://127.0.0.1:{stats_port}"))
                .env("PORT", broker_port.to_string())
                .env("RUST_LOG", "warn")
                .spawn()?,
        );
        processes.push(
            Command::new(bin.join("create-booking"))
                .env("PORT", booking_port.to_string())
                .env("DATABASE_URL", &url)
                .env("K_SINK", &ingress)
                .env("RUST_LOG", "warn")
                .spawn()?,
        );
        for port in [stats_port, broker_port, booking_port] {
            wait_listening(port, Duration::from_secs(10))?;
        }
        Ok(())
    })();
    let result = started.and_then(|()| {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        runtime.block_on(measure(&args, &ingress, booking_port, &redis_url))
    });
    for child in &mut processes {
        stop(child);
    }
    let (rate, latencies) = result?;
    let p50 = percentile(&latencies, 0.50);
    let p99 = percentile(&latencies, 0.99);

    let script = root.join("functions/stats/src/consumers/apply_booking.lua");
    let baseline = redis_benchmark_rate(&std::fs::read_to_string(script)?, args.clients)?;
    let ratio = rate / baseline;
    println!("\nbooking events, broker ingress to Redis stats");
    println!("{:<46} {:>12}", "figure", "value");
    println!("{:<46} {:>12.0}", "events/s, ingress to stats applied", rate);
    println!("{:<46} {:>12.2}", "booking reply to stats visible, p50 ms", p50);
    println!("{:<46} {:>12.2}", "booking reply to stats visible, p99 ms", p99);
    println!("{:<46} {:>12.0}", "baseline: same script in redis-benchmark, /s", baseline);
    println!("{:<46} {:>12.3}", "ratio (pipeline / redis-benchmark)", ratio);
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let results = json!({
        "scenario": "pipeline", "events": args.events, "bookings": args.bookings, "clients": args.clients,
        "figures": [
            {"figure": "pipeline throughput", "value": rate, "unit": "events/s", "baseline": baseline, "ratio": ratio},
            {"figure": "booking to stats p50", "value": p50, "unit": "ms"},
            {"figure": "booking to stats p99", "value": p99, "unit": "ms"},
        ],
    });
    std::fs::write(dir.join("pipeline.json"), serde_json::to_string_pretty(&results)?)?;
    println!("\nwritten to target/bench/pipeline.json");
    Ok(())
}

async fn measure(
    args: &Args,
    ingress: &str,
    booking_port: u16,
    redis_url: &str,
) -> anyhow::Result<(f64, Vec<f64>)> {
    let redis = redis_client(redis_url)?;
    let http = reqwest_client();
    // Throughput: events straight into the ingress, as fast as the senders go,
    // until the stats have applied every one.
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    let per_sender = args.events.div_ceil(args.clients);
    for sender in 0..args.clients {
        let (http, ingress) = (http.clone(), ingress.to_owned());
        senders.spawn(async move {
            for i in 0..per_sender {
                let id = format!("bench-{sender}-{i}");
                let data = json!({"id": uuid_for(sender, i), "destination_name": format!("Bench {}", i % 20),
                                  "passenger_name": "Bench", "passenger_age": i % 90, "has_pet": i % 5 == 0,
                                  "price": {"total": "950.00"}});
                let response = http
                    .post(&ingress)
                    .header("ce-specversion", "1.0")
                    .header("ce-id", id)
                    .header("ce-source", "/bench")
                    .header("ce-type", "skybook.booking.created")
                    .header("content-type", "application/json")
                    .body(data.to_string())
                    .send()
                    .await?;
                if response.status().as_u16() != 202 {
                    bail!("ingress answered {}", response.status());
                }
            }
            Ok(())
        });
    }
    while let Some(done) = senders.join_next().await {
        done??;
    }
    let expected = (per_sender * args.clients) as i64;
    wait_for_count(&redis, expected, Duration::from_secs(120)).await?;
    let rate = expected as f64 / started.elapsed().as_secs_f64();
    eprintln!("bench: {expected} events applied at {rate:.0}/s");

    // Latency: one booking at a time through create-booking, then the time
    // until its stats are visible.
    let booking = format!("http://127.0.0.1:{booking_port}/");
    let mut latencies = Vec::with_capacity(args.bookings);
    let mut count = expected;
    for i in 0..args.bookings {
        let data = json!({"flight_id": format!("00000000-0000-4000-8000-{:012}", 1 + i % 20),
                          "passenger_name": format!("Lat {i}"), "passenger_age": 30});
        let response = http.post(&booking).json(&data).send().await?;
        if !response.status().is_success() {
            bail!("create-booking answered {}", response.status());
        }
        let replied = Instant::now();
        count += 1;
        wait_for_count(&redis, count, Duration::from_secs(10)).await?;
        latencies.push(replied.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((rate, latencies))
}

async fn wait_for_count(redis: &redis::Client, expected: i64, limit: Duration) -> anyhow::Result<()> {
    let mut conn = redis.get_multiplexed_async_connection().await?;
    let started = Instant::now();
    loop {
        let count: Option<i64> = redis::cmd("GET").arg("stats:total_bookings").query_async(&mut conn).await?;
        if count.unwrap_or(0) >= expected {
            return Ok(());
        }
        if started.elapsed() > limit {
            bail!("stats stuck at {count:?} of {expected}");
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// The stats script by itself: every call a new event id (redis-benchmark's
/// `__rand_int__`), so every call does the full update.
fn redis_benchmark_rate(script: &str, clients: usize) -> anyhow::Result<f64> {
    let sha = redis_cli(&["SCRIPT", "LOAD", script])?;
    let db = BENCH_REDIS_DB.to_string();
    let clients = clients.to_string();
    let output = Command::new("redis-benchmark")
        .args([
            "--dbnum",
            &db,
            "-c",
            &clients,
            "-n",
            "200000",
            "-r",
            "1000000000",
            "--csv",
            "EVALSHA",
            sha.trim(),
            "8",
        ])
        .args([
            "stats:seen:bench:__rand_int__",
            "stats:total_revenue_cents",
            "stats:total_bookings",
            "stats:pet_bookings",
            "stats:destination:Bench",
            "stats:total_candy_cost_cents",
            "stats:total_infant_count",
            "logs:candy_distribution",
            "604800",
            "1",
            "95000",
            "1",
            "1",
            "500",
            "Reserva bench: Dulce entregado a Bench",
            "1000",
        ])
        .stderr(Stdio::null())
        .output()
        .context("redis-benchmark")?;
    let text = String::from_utf8_lossy(&output.stdout);
    // CSV: "test","rps",...
    let rate = text
        .lines()
        .filter(|l| !l.starts_with("\"test\""))
        .find_map(|l| l.split(',').nth(1).map(|v| v.trim_matches('"').parse::<f64>()))
        .context("redis-benchmark printed no rate")??;
    Ok(rate)
}

fn redis_cli(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("redis-cli").args(["-n", &BENCH_REDIS_DB.to_string()]).args(args).output()?;
    if !output.status.success() {
        bail!("redis-cli {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn redis_client(url: &str) -> anyhow::Result<redis::Client> {
    Ok(redis::Client::open(url)?)
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap_or_default()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn uuid_for(sender: usize, i: usize) -> String {
    format!("00000000-0000-4000-{sender:04x}-{i:012}")
}

fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index]
}
