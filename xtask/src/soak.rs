//! `cargo xtask soak`: the booking flow under mixed load (bookings,
//! cancellations, queries, stats reads) for a set time, with the stats
//! function and the broker killed and restarted on a schedule; then checks,
//! from PostgreSQL and Redis, that every booking is counted exactly once and
//! no seat is oversold, and reports each process's memory growth and
//! Redis's (reconcile-stats ticks throughout, as its PingSource would).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use sqlx::Connection;

use crate::bench::{Bench, Process, bench_database_url, pipeline::redis_cli, redis_url};
use crate::services;

#[derive(clap::Args)]
pub struct Args {
    /// How long the load runs, in seconds.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// Seconds between restarts (the stats function and the broker, in turn).
    #[arg(long, default_value_t = 20)]
    restart_every: u64,
}

const FLIGHTS: u32 = 20;
/// Redis's line in the memory table.
const REDIS: &str = "redis used_memory";
const WORKERS: usize = 8;

pub fn run(args: Args) -> anyhow::Result<()> {
    let root = services::workspace_root();
    services::ensure()?;
    let status = crate::services::cargo()
        .args(["build", "--release", "--workspace", "--bins"])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("release build failed");
    }
    let database_url = bench_database_url()?.replace("_bench", "_soak");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(services::migrate(&database_url))?;
    let bench = Bench {
        root: root.clone(),
        database_url: database_url.clone(),
        signing_key: crate::dev::event_signing_key(),
        runs: 1,
        seconds: 1,
        departs: crate::bench::a_month_ahead(),
    };
    bench.seed(FLIGHTS)?;
    redis_cli(&["FLUSHDB"])?;
    // Events another run left queued would be counted against this run's bookings.
    runtime.block_on(purge_trigger_queues())?;

    let broker_port = shared::testing::free_port();
    let ingress = format!("http://127.0.0.1:{broker_port}/skybook/default");
    let mut stats = bench.start("record-booking-stats", &[])?;
    stats.wait_listening()?;
    let relay_env = [("OUTBOX_GRACE_MS", "2000"), ("OUTBOX_BATCH", "1000"), ("K_SINK", ingress.as_str())];
    let relay = bench.start("relay-outbox", &relay_env)?;
    relay.wait_listening()?;
    let reconcile = bench.start("reconcile-stats", &[])?;
    reconcile.wait_listening()?;
    // The Triggers' other subscribers (the rename consumer, the dead-letter
    // sink) get no event here, but the broker routes to every one: the hello
    // server stands in for them.
    let others = bench.start("hello-baseline", &[])?;
    others.wait_listening()?;
    let functions = catalogue::functions();
    let urls: Vec<(&str, String)> = functions
        .iter()
        .map(|function| {
            let port = match function.name() {
                "record-booking-stats" => stats.port,
                "relay-outbox" => relay.port,
                "reconcile-stats" => reconcile.port,
                _ => others.port,
            };
            (function.name(), format!("http://127.0.0.1:{port}"))
        })
        .collect();
    // The stats consumer keeps its port across restarts: the broker's list holds.
    let services =
        shared::config::de::join_urls_by_name(urls.iter().map(|(name, url)| (*name, url.as_str())));
    let manifests = root.join("knative").display().to_string();
    let port = broker_port.to_string();
    let broker_env = [
        ("PORT", port.as_str()),
        ("BROKER_PING_EVERY_SECS", "2"),
        ("BROKER_MANIFESTS", manifests.as_str()),
        ("BROKER_SERVICES", services.as_str()),
    ];
    let mut broker = bench.start("skybook-broker", &broker_env)?;
    broker.wait_listening()?;
    let sink = [("K_SINK", ingress.as_str())];
    let book = bench.start("create-booking", &sink)?;
    let cancel = bench.start("cancel-booking", &sink)?;
    let get_flight = bench.start("get-flight", &[])?;
    let list_flights = bench.start("list-flights", &[])?;
    let get_stats = bench.start("get-stats", &[])?;
    for process in [&book, &cancel, &get_flight, &list_flights, &get_stats] {
        process.wait_listening()?;
    }
    let steady = [
        ("create-booking", &book),
        ("cancel-booking", &cancel),
        ("get-flight", &get_flight),
        ("list-flights", &list_flights),
        ("get-stats", &get_stats),
    ];
    // RSS idle, then at every tick: a process that warms up (connections,
    // buffers, allocator arenas) grows early and levels off; a leak keeps going.
    let mut rss: BTreeMap<&str, Vec<f64>> = steady.iter().map(|(n, p)| (*n, vec![rss_mib(p)])).collect();
    // Redis's own data (`used_memory`), sampled with them: what the stats
    // keep must not grow with the events applied.
    rss.insert(REDIS, vec![redis_mib()?]);

    let counts = Arc::new(Counts::default());
    let ports = [book.port, cancel.port, get_flight.port, list_flights.port, get_stats.port];
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let load = runtime.spawn(load(ports, deadline, counts.clone()));
    let mut restarts = 0;
    while Instant::now() < deadline {
        std::thread::sleep(
            Duration::from_secs(args.restart_every).min(deadline.saturating_duration_since(Instant::now())),
        );
        for (name, process) in &steady {
            rss.entry(name).or_default().push(rss_mib(process));
        }
        rss.entry(REDIS).or_default().push(redis_mib()?);
        if Instant::now() >= deadline {
            break;
        }
        // Crash one, bring it back on the same port; the broker's queues
        // and the relay make up for whatever was in flight.
        if restarts % 2 == 0 {
            stats.crash();
            let port = stats.port.to_string();
            stats = bench.start("record-booking-stats", &[("PORT", port.as_str())])?;
            stats.wait_listening()?;
        } else {
            broker.crash();
            broker = bench.start("skybook-broker", &broker_env)?;
            broker.wait_listening()?;
        }
        restarts += 1;
        eprintln!(
            "soak: restart {restarts} at {:.0} s",
            args.seconds as f64 - deadline.saturating_duration_since(Instant::now()).as_secs_f64()
        );
    }
    runtime.block_on(load)??;
    for (name, process) in &steady {
        rss.entry(name).or_default().push(rss_mib(process));
    }
    rss.entry(REDIS).or_default().push(redis_mib()?);

    // Let the relay and the broker drain, then compare both stores.
    let verdict = runtime.block_on(check(&database_url, Duration::from_secs(90)));
    println!("\nsoak: {} s, {restarts} restarts", args.seconds);
    println!(
        "operations: {} bookings ({} sold out), {} cancellations, {} queries, {} stats reads, {} failed",
        counts.booked.load(Ordering::Relaxed),
        counts.sold_out.load(Ordering::Relaxed),
        counts.cancelled.load(Ordering::Relaxed),
        counts.queries.load(Ordering::Relaxed),
        counts.stats.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed)
    );
    println!(
        "{:<16} {:>9} {:>9} {:>9} {:>9} {:>16}",
        "process", "RSS idle", "warm", "half", "end", "end vs warm"
    );
    for (name, samples) in &rss {
        // Warm: after the first tick of load; half: midway through the run.
        let (idle, warm, half, end) = (
            samples[0],
            samples[1.min(samples.len() - 1)],
            samples[samples.len() / 2],
            samples[samples.len() - 1],
        );
        println!(
            "{name:<16} {idle:>7.1}Mi {warm:>7.1}Mi {half:>7.1}Mi {end:>7.1}Mi {:>15.1}%",
            (end - warm) / warm * 100.0
        );
    }
    let checked = verdict?;
    println!("{checked}");
    println!("redis used_memory once settled: {:.2}Mi", redis_mib()?);
    Ok(())
}

/// Redis's `used_memory`, in MiB.
fn redis_mib() -> anyhow::Result<f64> {
    let info = redis_cli(&["INFO", "memory"])?;
    let bytes: f64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .context("no used_memory in INFO")?;
    Ok(bytes / 1048576.0)
}

#[derive(Default)]
struct Counts {
    booked: AtomicU64,
    sold_out: AtomicU64,
    cancelled: AtomicU64,
    queries: AtomicU64,
    stats: AtomicU64,
    failed: AtomicU64,
}

/// The mixed load: each worker picks an operation at random until the deadline.
async fn load(ports: [u16; 5], deadline: Instant, counts: Arc<Counts>) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..WORKERS {
        let (http, counts) = (http.clone(), counts.clone());
        workers.spawn(async move {
            let mut booked: Vec<String> = Vec::new();
            let mut n: u64 = worker as u64 * 7919;
            while Instant::now() < deadline {
                n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let pick = (n >> 33) % 100;
                let flight = format!("00000000-0000-4000-8000-{:012}", 1 + (n >> 40) % u64::from(FLIGHTS));
                let (port, body, kind) = match pick {
                    0..50 => (ports[0], json!({"flight_id": flight, "passenger_name": format!("Soak {n}"), "passenger_age": (n >> 20) % 90, "has_pet": (n >> 24).is_multiple_of(7)}), 0),
                    50..65 if !booked.is_empty() => (ports[1], json!({"id": booked.swap_remove((n >> 28) as usize % booked.len())}), 1),
                    50..75 => (ports[2], json!({"id": flight}), 2),
                    75..85 => (ports[3], json!({}), 2),
                    _ => (ports[4], json!({}), 3),
                };
                let response = http.post(format!("http://127.0.0.1:{port}/")).json(&body).send().await;
                let counter = match response {
                    Ok(r) if r.status().is_success() => {
                        if kind == 0 {
                            let reply: serde_json::Value = r.json().await.unwrap_or_default();
                            if let Some(id) = reply["id"].as_str() {
                                booked.push(id.to_owned());
                            }
                        }
                        match kind {
                            0 => &counts.booked,
                            1 => &counts.cancelled,
                            2 => &counts.queries,
                            _ => &counts.stats,
                        }
                    }
                    Ok(r) if r.status().as_u16() == 422 && kind == 0 => &counts.sold_out,
                    _ => &counts.failed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.context("a load worker")?;
    }
    Ok(())
}

/// Waits for the outbox and the stats to settle, then holds them to
/// PostgreSQL: every booking, the seeded one too (reconcile-stats' first
/// tick builds the stats from PostgreSQL).
async fn check(database_url: &str, limit: Duration) -> anyhow::Result<String> {
    let mut db = sqlx::PgConnection::connect(database_url).await?;
    let mut redis = redis::Client::open(redis_url())?.get_multiplexed_async_connection().await?;
    let started = Instant::now();
    loop {
        let (confirmed, unsent): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM bookings WHERE status = 'confirmed'),
                    (SELECT count(*) FROM outbox WHERE published_at IS NULL)",
        )
        .fetch_one(&mut db)
        .await?;
        let counted: Option<i64> =
            redis::cmd("GET").arg(stats::keys::TOTAL_BOOKINGS).query_async(&mut redis).await?;
        if unsent == 0 && counted == Some(confirmed) {
            break;
        }
        if started.elapsed() > limit {
            bail!("not settled after {limit:?}: {confirmed} confirmed, {counted:?} counted, {unsent} unsent");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (confirmed, revenue_cents): (i64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE((sum(total) * 100)::bigint, 0) FROM bookings WHERE status = 'confirmed'",
    )
    .fetch_one(&mut db)
    .await?;
    let counted_revenue: Option<i64> =
        redis::cmd("GET").arg(stats::keys::TOTAL_REVENUE_CENTS).query_async(&mut redis).await?;
    if counted_revenue != Some(revenue_cents) {
        bail!("revenue in Redis {counted_revenue:?} cents, in PostgreSQL {revenue_cents}");
    }
    let oversold: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM flights f
         WHERE f.seats_taken > f.capacity
            OR f.seats_taken <> (SELECT count(*) FROM bookings b WHERE b.flight_id = f.id AND b.status = 'confirmed')",
    )
    .fetch_one(&mut db)
    .await?;
    if oversold > 0 {
        bail!("{oversold} flights oversold or miscounted");
    }
    Ok(format!(
        "checked: {confirmed} confirmed bookings counted exactly once in Redis (revenue {revenue_cents} cents equal), \
         every flight's seats equal its confirmed bookings and within capacity, outbox empty"
    ))
}

fn rss_mib(process: &Process) -> f64 {
    std::fs::read_to_string(format!("/proc/{}/status", process.child.id()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Empties the Triggers' queues of the `skybook` namespace.
async fn purge_trigger_queues() -> anyhow::Result<()> {
    let url = crate::services::amqp_url();
    let connection = lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await?;
    for trigger in ["booking-created-to-stats", "booking-cancelled-to-stats"] {
        // A channel per queue: purging one that does not exist closes its channel.
        let channel = connection.create_channel().await?;
        let queue = format!("skybook.trigger.skybook.{trigger}");
        let _ = channel.queue_purge(queue.into(), lapin::options::QueuePurgeOptions::default()).await;
    }
    let _ = connection.close(200, "bye".into()).await;
    Ok(())
}
