//! The fault drill: the local stack takes bookings at a steady rate while,
//! in turn, Redis is cut for 15 s, `record-booking-stats` is killed (and left
//! to the supervisor) and the broker is killed. Then, with no manual step,
//! the Redis stats must equal what PostgreSQL says and the dead-letter store
//! be empty. It prints what it took to settle.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use shared::testing::{TcpProxy, redis_addr};

use crate::client::Skybook;
use crate::dev::{self, Options, Stack};
use crate::services;

/// Bookings per second while the faults happen.
const RATE: u64 = 20;
/// How long the stats may take to settle once the faults are over.
const SETTLE_LIMIT: Duration = Duration::from_secs(240);

pub fn run() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let database_url = services::sibling_database_url("faults")?;
    runtime.block_on(services::drop_database(&database_url))?;
    services::fresh_redis_db(13)?;
    // The functions reach Redis through a proxy the drill can cut.
    let proxy = runtime.block_on(TcpProxy::start(redis_addr()));
    let via_proxy = format!("redis://{}/13", proxy.addr);
    let options = Options {
        base_port: 18181,
        release: false,
        database_url: database_url.clone(),
        redis_url: Some(via_proxy),
        logs: false,
        identities: crate::dev::Identities::Disabled,
        env: vec![
            // Ticks every few seconds, not every minute and five.
            ("BROKER_PING_EVERY_SECS".into(), "5".into()),
            ("STATS_SETTLE_MS".into(), "1000".into()),
            ("OUTBOX_GRACE_MS".into(), "3000".into()),
        ],
    };
    let stack = dev::start(&options)?;
    let report = runtime.block_on(drill(&stack, &proxy, &database_url))?;
    println!("{report}");
    Ok(())
}

async fn drill(stack: &Stack, proxy: &TcpProxy, database_url: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let skybook = Skybook { http, urls: stack.urls.clone() };
    let flights = skybook.routes().await?;

    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(load(skybook.clone(), flights, stop.clone()));
    let pause = |secs| tokio::time::sleep(Duration::from_secs(secs));

    pause(5).await;
    println!("faults: Redis cut for 15 s");
    proxy.cut();
    pause(15).await;
    proxy.restore();
    pause(10).await;
    println!("faults: record-booking-stats killed");
    kill(stack, "record-booking-stats")?;
    pause(10).await;
    println!("faults: the broker killed");
    kill(stack, "skybook-broker")?;
    let last_fault = Instant::now();
    pause(10).await;
    stop.store(true, Ordering::SeqCst);
    let (bookings, cancellations) = load.await??;
    println!("faults: {bookings} bookings and {cancellations} cancellations made; waiting for the stats");

    let db = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(database_url).await?;
    let mut last = (Value::Null, Value::Null);
    while last_fault.elapsed() < SETTLE_LIMIT {
        let stats = skybook.stats().await.unwrap_or(Value::Null);
        let truth = stats::testing::expected_stats(&db).await?;
        if stats == truth {
            let settled = last_fault.elapsed();
            let dead: Vec<(String, String, String)> =
                sqlx::query_as("SELECT event_type, event_id, error_dest FROM dead_letters")
                    .fetch_all(&db)
                    .await?;
            anyhow::ensure!(dead.is_empty(), "dead letters nothing explains: {dead:?}");
            let relayed: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL AND attempts > 1",
            )
            .fetch_one(&db)
            .await?;
            let rebuilds = skybook.metric("reconcile-stats", "skybook_stats_rebuilds_total").await;
            return Ok(format!(
                "faults: the stats equal PostgreSQL {:.1} s after the last fault, the broker's kill ({bookings} bookings, \
                 {cancellations} cancellations); {relayed} events published by the relay; \
                 stats rebuilds by reconcile-stats: {rebuilds}; dead letters: 0",
                settled.as_secs_f64()
            ));
        }
        last = (stats, truth);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    anyhow::bail!("the stats never settled:\n  redis:    {}\n  postgres: {}", last.0, last.1)
}

fn kill(stack: &Stack, name: &str) -> anyhow::Result<()> {
    let pid = stack.processes.pid(name).with_context(|| format!("{name} is not running"))?;
    std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status()?;
    Ok(())
}

/// Books at [`RATE`] a second until told to stop, cancelling every seventh
/// booking and renaming a destination once: (bookings, cancellations).
async fn load(
    skybook: Skybook,
    flights: Vec<(String, String)>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(u64, u64)> {
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / RATE));
    let (mut bookings, mut cancellations, mut renamed) = (0u64, 0u64, false);
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        tick.tick().await;
        n += 1;
        let (destination, flight) = &flights[(n % flights.len() as u64) as usize];
        let data = json!({"flight_id": flight, "passenger_name": format!("P{n}"),
                          "passenger_age": (n * 7) % 80, "has_pet": n.is_multiple_of(5)});
        let key = format!("drill-{n}");
        let Ok(booking) = skybook.call_with_key("create-booking", &data, &key).await else { continue };
        bookings += 1;
        if n.is_multiple_of(7) && skybook.call("cancel-booking", &json!({"id": booking["id"]})).await.is_ok()
        {
            cancellations += 1;
        }
        if !renamed && n == RATE * 12 {
            renamed = skybook
                .call("update-destination", &json!({"id": destination, "name": "Drill Renamed"}))
                .await
                .is_ok();
        }
    }
    Ok((bookings, cancellations))
}
