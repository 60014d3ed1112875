//! What the stats consumer keeps and how fast it goes as history grows: the
//! seeded outbox's booking events (their real numbers and bookings) applied
//! to Redis, with reconcile-stats ticking between batches as it would every
//! minute, Redis's memory after each batch; and record-booking-stats'
//! throughput over HTTP, signed events, on an empty Redis and after that
//! history.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use shared::cloudevent::sequence;
use shared::cloudevent::signature::{EventKeys, Signed};
use sqlx::PgPool;

use super::{Bench, Figure, redis_url};

/// Events each throughput run sends, and how many at once.
const MEASURED: i64 = 20_000;
const CONCURRENCY: usize = 16;
/// History applied between two ticks.
const BATCH: i64 = 100_000;

/// One booking event as the outbox holds it, with the data the consumer reads.
struct Event {
    seq: i64,
    ty: String,
    data: Value,
    cents: i64,
}

pub fn run(bench: &Bench, url: &str) -> anyhow::Result<Vec<Figure>> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?.block_on(async {
        let db = PgPool::connect(url).await?;
        let redis = redis::Client::open(redis_url())?;
        let mut conn = redis.get_multiplexed_async_connection().await?;
        let () = redis::cmd("FLUSHDB").query_async(&mut conn).await?;
        let consumer = bench.start("record-booking-stats", &[])?;
        let reconcile = bench.start("reconcile-stats", &[("DATABASE_URL", url), ("STATS_SETTLE_MS", "0")])?;
        consumer.wait_listening()?;
        reconcile.wait_listening()?;
        let keys = crate::dev::event_keys(&bench.signing_key)?;
        let total: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE type LIKE 'skybook.booking.%'")
                .fetch_one(&db)
                .await?;
        let http = reqwest::Client::new();
        let target = format!("http://127.0.0.1:{}/", consumer.port);

        // The first events into an empty Redis (no floor: every one by its bit).
        let first = events(&db, 0, MEASURED).await?;
        let mut after = first.last().map_or(0, |e| e.seq);
        let empty = send_all(&http, &target, &keys, first).await?;
        tick(reconcile.port)?;
        let baseline = used_memory(&mut conn).await?;

        // History: the rest but the last MEASURED, by the same script, a
        // tick after each batch; memory after each.
        let script: String = redis::cmd("SCRIPT").arg("LOAD").arg(APPLY).query_async(&mut conn).await?;
        let mut applied = MEASURED;
        let mut memory = Vec::new();
        while applied < total - MEASURED {
            let batch = events(&db, after, BATCH.min(total - MEASURED - applied)).await?;
            let Some(last) = batch.last() else { break };
            after = last.seq;
            applied += batch.len() as i64;
            apply(&mut conn, &script, &batch).await?;
            tick(reconcile.port)?;
            memory.push((applied, used_memory(&mut conn).await?));
        }
        let history = send_all(&http, &target, &keys, events(&db, after, MEASURED).await?).await?;
        tick(reconcile.port)?;
        let end = used_memory(&mut conn).await?;
        let owed: i64 = redis::cmd("SCARD").arg(stats::keys::OWED).query_async(&mut conn).await?;
        if owed != 0 {
            bail!("{owed} events owed after every one was applied");
        }
        let peak = memory.iter().map(|(_, m)| *m).max().unwrap_or(end);
        for (n, bytes) in &memory {
            println!("scale: Redis used_memory after {n} events: {:.2} MiB", *bytes as f64 / 1048576.0);
        }
        println!(
            "scale: consumer {empty:.0} events/s on an empty Redis, {history:.0} after {applied} events; \
             Redis {:.2} MiB at the start, {:.2} MiB at the most, {:.2} MiB after {total} events",
            baseline as f64 / 1048576.0,
            peak as f64 / 1048576.0,
            end as f64 / 1048576.0
        );
        Ok(vec![
            Figure::plain("scale: stats consumer, events/s on an empty Redis", empty, "events/s"),
            Figure::plain(
                format!("scale: stats consumer, events/s after {applied} events"),
                history,
                "events/s",
            ),
            Figure::plain("scale: stats consumer, history over empty", history / empty, "x"),
            Figure::plain(
                format!("scale: Redis used_memory after {total} booking events"),
                end as f64 / 1048576.0,
                "MiB",
            ),
            Figure::plain(
                "scale: Redis used_memory, most over least during the history",
                peak as f64 / memory.iter().map(|(_, m)| *m).min().unwrap_or(end).max(1) as f64,
                "x",
            ),
        ])
    })
}

/// The consumer's script, as the bench applies history with it.
const APPLY: &str = include_str!("../../../functions/stats/src/consumers/apply_booking.lua");

/// One reconcile-stats tick, which must succeed.
fn tick(port: u16) -> anyhow::Result<()> {
    let status = super::scale::tick(port, Duration::from_secs(600))?;
    if !(200..300).contains(&status) {
        bail!("reconcile-stats answered {status}");
    }
    Ok(())
}

/// Up to `n` booking events after number `after`, in order, with the data
/// their bookings imply.
async fn events(db: &PgPool, after: i64, n: i64) -> anyhow::Result<Vec<Event>> {
    let rows: Vec<(i64, String, Value, i64)> = sqlx::query_as(
        "SELECT o.seq, o.type, json_build_object(
                    'id', b.id, 'destination_id', d.id, 'destination_name', d.name,
                    'passenger_name', b.passenger_name, 'passenger_age', b.passenger_age,
                    'has_pet', b.has_pet, 'price', json_build_object('total', b.total::text))::jsonb,
                (b.total * 100)::bigint
         FROM outbox o JOIN bookings b ON b.id = o.subject::uuid
              JOIN flights f ON f.id = b.flight_id JOIN destinations d ON d.id = f.destination_id
         WHERE o.seq > $1 AND o.type LIKE 'skybook.booking.%'
         ORDER BY o.seq LIMIT $2",
    )
    .bind(after)
    .bind(n)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(seq, ty, data, cents)| Event { seq, ty, data, cents }).collect())
}

/// Sends every event, signed, `CONCURRENCY` at a time; events a second.
async fn send_all(
    http: &reqwest::Client,
    target: &str,
    keys: &EventKeys,
    events: Vec<Event>,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let n = events.len();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(events.into_iter()));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (http, target, keys, queue) = (http.clone(), target.to_owned(), keys.clone(), queue.clone());
        senders.spawn(async move {
            loop {
                let next = queue.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.next();
                let Some(event) = next else { return anyhow::Ok(()) };
                let (id, seq, data) =
                    (uuid::Uuid::new_v4().to_string(), sequence::format(event.seq), event.data.to_string());
                let signature = keys.sign(Signed {
                    id: &id,
                    source: "/skybook/bookings",
                    ty: &event.ty,
                    subject: None,
                    sequence: Some(&seq),
                    data: data.as_bytes(),
                });
                let status = http
                    .post(&target)
                    .header("ce-specversion", "1.0")
                    .header("ce-id", &id)
                    .header("ce-source", "/skybook/bookings")
                    .header("ce-type", &event.ty)
                    .header("ce-sequence", &seq)
                    .header("ce-skybooksig", signature)
                    .header("content-type", "application/json")
                    .timeout(Duration::from_secs(10))
                    .body(data)
                    .send()
                    .await?
                    .status();
                if !status.is_success() {
                    bail!("record-booking-stats answered {status}");
                }
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Applies a batch by the consumer's own script (loaded as `sha`), pipelined.
async fn apply(
    conn: &mut redis::aio::MultiplexedConnection,
    sha: &str,
    batch: &[Event],
) -> anyhow::Result<()> {
    use stats::keys;
    for chunk in batch.chunks(1000) {
        let mut pipe = redis::pipe();
        for event in chunk {
            let (chunk_key, bit) = keys::applied(event.seq);
            let sign = if event.ty == domain::events::BOOKING_CANCELLED { -1 } else { 1 };
            let destination: uuid::Uuid = serde_json::from_value(event.data["destination_id"].clone())?;
            let booking: uuid::Uuid = serde_json::from_value(event.data["id"].clone())?;
            let text = |field: &str| event.data[field].as_str().unwrap_or_default().to_owned();
            let infant =
                event.data["passenger_age"].as_i64().unwrap_or(99) < i64::from(keys::CANDY_AGE_LIMIT);
            pipe.cmd("EVALSHA")
                .arg(sha)
                .arg(13)
                .arg(keys::APPLIED_FLOOR)
                .arg(chunk_key)
                .arg(keys::OWED)
                .arg(keys::TOTAL_REVENUE_CENTS)
                .arg(keys::TOTAL_BOOKINGS)
                .arg(keys::PET_BOOKINGS)
                .arg(keys::destination(&destination))
                .arg(keys::TOTAL_CANDY_COST_CENTS)
                .arg(keys::TOTAL_INFANT_COUNT)
                .arg(keys::CANDY_LOG)
                .arg(keys::POPULARITY)
                .arg(keys::RECONCILING)
                .arg(keys::JOURNAL)
                .arg(event.seq)
                .arg(bit)
                .arg(sign)
                .arg(event.cents)
                .arg(u8::from(event.data["has_pet"].as_bool().unwrap_or(false)))
                .arg(u8::from(infant))
                .arg(keys::CANDY_COST_CENTS)
                .arg(keys::candy_entry(&booking, &text("passenger_name")))
                .arg(keys::CANDY_LOG_CAP)
                .arg(destination.to_string())
                .arg(text("destination_name"))
                .ignore();
        }
        let () = pipe.query_async(conn).await?;
    }
    Ok(())
}

async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .context("no used_memory in INFO")
}
