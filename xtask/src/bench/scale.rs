//! What must stay flat as history grows, at 100 k and 1 M bookings (and
//! 10 M with `SKYBOOK_SCALE_SIZES`; seeded with `generate_series` in a
//! database of its own): reconcile-stats' rebuild from PostgreSQL into an
//! empty Redis (wall time and the process's peak RSS), the Redis memory it
//! leaves, the cost of a tick that needs no rebuild, the stats consumer's
//! memory and throughput over that history (see `dedup`), how fast
//! relay-outbox's ticks delete expired outbox rows, and what a tick with
//! nothing to do costs beside a million kept.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{Bench, Figure, redis_url};
use crate::services;

/// Bookings per run: a year at a hundred a second is 3 billion; these show
/// the slope. `SKYBOOK_SCALE_SIZES=100000,1000000,10000000` adds 10 M (its
/// seeding alone takes minutes).
const SIZES: [u64; 2] = [100_000, 1_000_000];

pub fn run(bench: &Bench) -> anyhow::Result<Vec<Figure>> {
    let url = services::sibling_database_url("scale")?;
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(services::migrate(&url))?;
    let sizes: Vec<u64> = match std::env::var("SKYBOOK_SCALE_SIZES") {
        Ok(list) => list.split(',').map(|n| n.trim().parse()).collect::<Result<_, _>>()?,
        Err(_) => SIZES.to_vec(),
    };
    let mut figures = Vec::new();
    for &n in &sizes {
        seed(&url, n)?;
        let (outcome, seconds, rss, bytes, quiet) = rebuild(bench, &url)?;
        let label = format!("{}k", n / 1000);
        println!(
            "scale: rebuild at {label} bookings: {outcome}, {seconds:.1} s, {rss:.0} MiB peak, {bytes} B of Redis; \
             a tick with nothing to rebuild {:.0} ms",
            quiet * 1000.0
        );
        figures.push(Figure::plain(
            format!("scale: a tick with nothing to rebuild at {label}"),
            quiet * 1000.0,
            "ms",
        ));
        figures.push(Figure::plain(format!("scale: rebuild at {label} bookings ({outcome})"), seconds, "s"));
        figures.push(Figure::plain(format!("scale: reconcile-stats peak RSS at {label}"), rss, "MiB"));
        figures.push(Figure::plain(
            format!("scale: Redis memory per booking event at {label}"),
            bytes as f64 / n as f64,
            "B",
        ));
    }
    figures.extend(super::dedup::run(bench, &url)?);
    let retention = retention(bench, &url, 1_000_000)?;
    println!(
        "scale: retention {:.0} expired outbox rows deleted a second; a quiet tick beside 1 M kept {:.1} ms",
        retention.deleted as f64 / retention.seconds,
        retention.quiet_tick * 1000.0
    );
    figures.push(Figure::plain(
        "scale: retention, expired outbox rows deleted a second",
        retention.deleted as f64 / retention.seconds,
        "rows/s",
    ));
    figures.push(Figure::plain(
        "scale: relay-outbox, a tick with nothing to do beside 1 M kept outbox rows",
        retention.quiet_tick * 1000.0,
        "ms",
    ));
    Ok(figures)
}

fn psql(url: &str, sql: &str) -> anyhow::Result<String> {
    let output = Command::new("psql")
        .args([url, "-qtA", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .context("psql")?;
    if !output.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// `n` bookings over the last six days on 200 flights to 20 destinations,
/// one in ten cancelled, each with its events in the outbox, published.
fn seed(url: &str, n: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    psql(url, "TRUNCATE bookings, flights, destinations, outbox, idempotency CASCADE")?;
    psql(
        url,
        "INSERT INTO destinations (id, name, tax_amount)
         SELECT gen_random_uuid(), 'Destination ' || i, 10 FROM generate_series(1, 20) i;
         INSERT INTO flights (id, destination_id, flight_number, base_price, departure_at, capacity)
         SELECT gen_random_uuid(), d.id, 'SC' || (row_number() OVER ()), 100, now() + interval '30 days', 2000000000
         FROM destinations d, generate_series(1, 10)",
    )?;
    psql(
        url,
        &format!(
            "INSERT INTO bookings (id, flight_id, passenger_name, passenger_age, has_pet, status, base_price,
                                   discount, tax, total, created_at, cancelled_at, owner)
             SELECT gen_random_uuid(), f.ids[1 + i % 200], 'Passenger ' || i, i % 90, i % 7 = 0,
                    CASE WHEN i % 10 = 0 THEN 'cancelled' ELSE 'confirmed' END, 100, 0, 10, 110,
                    now() - interval '6 days' * (i::float8 / {n}),
                    CASE WHEN i % 10 = 0 THEN now() - interval '6 days' * (i::float8 / {n}) + interval '1 hour' END,
                    'passenger-' || i
             FROM generate_series(1, {n}) i, (SELECT array_agg(id) AS ids FROM flights) f"
        ),
    )?;
    psql(
        url,
        "INSERT INTO outbox (event_id, type, source, subject, data, created_at, published_at)
         SELECT gen_random_uuid(), 'skybook.booking.created', '/skybook/bookings', id::text, '{}'::jsonb,
                created_at, created_at FROM bookings
         UNION ALL
         SELECT gen_random_uuid(), 'skybook.booking.cancelled', '/skybook/bookings', id::text, '{}'::jsonb,
                cancelled_at, cancelled_at FROM bookings WHERE cancelled_at IS NOT NULL",
    )?;
    psql(url, "VACUUM ANALYZE")?;
    println!("scale: seeded {n} bookings in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn redis_used_memory() -> anyhow::Result<u64> {
    let client = redis::Client::open(redis_url())?;
    let mut conn = client.get_connection()?;
    let info: String = redis::cmd("INFO").arg("memory").query(&mut conn)?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .context("no used_memory in INFO")
}

/// A tick of reconcile-stats against an empty Redis: it finds the stats
/// lost and rebuilds. Its outcome, seconds, peak RSS and the Redis bytes it
/// left; then the seconds of a second tick, which only raises the floor and
/// checks the keys.
fn rebuild(bench: &Bench, url: &str) -> anyhow::Result<(String, f64, f64, u64, f64)> {
    let client = redis::Client::open(redis_url())?;
    redis::cmd("FLUSHDB").query::<()>(&mut client.get_connection()?)?;
    let before = redis_used_memory()?;
    let process = bench.start("reconcile-stats", &[("DATABASE_URL", url), ("STATS_SETTLE_MS", "0")])?;
    process.wait_listening()?;
    let started = Instant::now();
    let status = tick(process.port, Duration::from_secs(600))?;
    let seconds = started.elapsed().as_secs_f64();
    let rss = process.peak_rss_mib()?;
    let outcome =
        if (200..300).contains(&status) { "rebuilt".to_owned() } else { format!("failed with {status}") };
    let left = redis_used_memory()?.saturating_sub(before);
    let started = Instant::now();
    tick(process.port, Duration::from_secs(60))?;
    Ok((outcome, seconds, rss, left, started.elapsed().as_secs_f64()))
}

/// One PingSource tick to a function; its status.
pub(super) fn tick(port: u16, timeout: Duration) -> anyhow::Result<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(timeout))?;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nce-specversion: 1.0\r\nce-id: {}\r\n\
         ce-source: /apis/v1/namespaces/skybook/pingsources/bench\r\nce-type: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}",
        uuid::Uuid::new_v4(),
        shared::cloudevent::PING
    );
    stream.write_all(request.as_bytes())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).context("no answer")?;
    std::str::from_utf8(&head[9..12])?.parse().context("a status line")
}

/// `n` outbox rows past their retention beside as many recent ones: how long
/// relay-outbox's ticks take to delete them all, and then a tick's time with
/// the recent ones kept.
fn retention(bench: &Bench, url: &str, n: u64) -> anyhow::Result<Retention> {
    psql(url, "TRUNCATE outbox")?;
    psql(
        url,
        &format!(
            "INSERT INTO outbox (event_id, type, source, subject, data, created_at, published_at)
             SELECT gen_random_uuid(), 't', '/s', 's', '{{}}'::jsonb, now() - interval '30 days' * g, now() - interval '30 days' * g
             FROM generate_series(1, {n}) i, (VALUES (1), (0)) AS age(g)"
        ),
    )?;
    psql(url, "VACUUM ANALYZE outbox")?;
    let process = bench.start("relay-outbox", &[("DATABASE_URL", url), ("K_SINK", "http://127.0.0.1:9")])?;
    process.wait_listening()?;
    let started = Instant::now();
    // Each tick deletes what it can within its budget; ticks until all is gone.
    while psql(url, "SELECT count(*) FROM outbox WHERE published_at < now() - interval '8 days'")? != "0" {
        relay_tick(process.port)?;
    }
    let deleting = started.elapsed().as_secs_f64();
    // Then a tick with nothing to publish or delete beside the million kept:
    // what every minute costs with a week of bookings behind it.
    psql(url, "VACUUM ANALYZE outbox")?;
    let quiet = Instant::now();
    relay_tick(process.port)?;
    Ok(Retention { deleted: n, seconds: deleting, quiet_tick: quiet.elapsed().as_secs_f64() })
}

/// One relay-outbox tick, which must succeed.
fn relay_tick(port: u16) -> anyhow::Result<()> {
    let status = tick(port, Duration::from_secs(120))?;
    if !(200..300).contains(&status) {
        bail!("relay-outbox answered {status}");
    }
    Ok(())
}

struct Retention {
    deleted: u64,
    seconds: f64,
    /// A tick's wall time with nothing to do, the recent rows kept.
    quiet_tick: f64,
}
