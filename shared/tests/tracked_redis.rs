//! The tracked Redis connection against a real Redis: what it keeps, what
//! Redis's invalidations take away, and that nothing stale outlives a write.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use shared::config::Settings;
use shared::redis::Tracked;
use shared::testing::TestRedis;

async fn tracked(redis: &TestRedis) -> Tracked {
    let settings = Settings::with_overrides(&[("redis_url", &redis.url)]).expect("settings");
    Tracked::lazy(&settings, shared::redis::TRACKED_BYTES).expect("a tracked connection")
}

async fn get(tracked: &mut Tracked, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query_async(tracked).await.expect("GET")
}

async fn set(conn: &mut MultiplexedConnection, key: &str, value: &str) {
    redis::cmd("SET").arg(key).arg(value).query_async::<()>(conn).await.expect("SET");
}

/// Reads through `tracked` until it answers `want`: Redis pushes an
/// invalidation as it runs the write, and the client reads it a moment later.
async fn reads_at_last(tracked: &mut Tracked, key: &str, want: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let read = get(tracked, key).await;
        if read.as_deref() == want {
            return;
        }
        assert!(Instant::now() < deadline, "{key} still reads {read:?}, not {want:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn a_read_is_kept_until_its_key_changes_then_read_again() {
    let redis = TestRedis::new().await;
    let (mut tracked, mut conn) = (tracked(&redis).await, redis.conn().await);
    set(&mut conn, "flight", "10 seats").await;
    assert_eq!(get(&mut tracked, "flight").await.as_deref(), Some("10 seats"));
    assert_eq!(tracked.kept().0, 1);
    for _ in 0..100 {
        assert_eq!(get(&mut tracked, "flight").await.as_deref(), Some("10 seats"));
    }
    // Kept as it was: a hundred reads from memory, none more from Redis.
    assert_eq!(tracked.kept().0, 1);

    set(&mut conn, "flight", "9 seats").await;
    reads_at_last(&mut tracked, "flight", Some("9 seats")).await;
    redis::cmd("DEL").arg("flight").query_async::<()>(&mut conn).await.expect("DEL");
    reads_at_last(&mut tracked, "flight", None).await;
    // A key that is not there is tracked too: its coming shows.
    set(&mut conn, "flight", "8 seats").await;
    reads_at_last(&mut tracked, "flight", Some("8 seats")).await;
}

#[tokio::test]
async fn a_pipelined_read_is_dropped_when_any_key_it_read_changes() {
    let redis = TestRedis::new().await;
    let (mut tracked, mut conn) = (tracked(&redis).await, redis.conn().await);
    set(&mut conn, "ready", "1").await;
    redis::cmd("ZADD").arg("listing").arg(0).arg("a").query_async::<()>(&mut conn).await.expect("ZADD");
    let page =
        || redis::pipe().cmd("EXISTS").arg("ready").cmd("ZRANGE").arg("listing").arg(0).arg(-1).clone();
    let read: (bool, Vec<String>) = page().query_async(&mut tracked).await.expect("page");
    assert_eq!(read, (true, vec!["a".to_owned()]));

    redis::cmd("ZADD").arg("listing").arg(0).arg("b").query_async::<()>(&mut conn).await.expect("ZADD");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let read: (bool, Vec<String>) = page().query_async(&mut tracked).await.expect("page");
        if read.1.len() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the listing still reads {read:?}");
    }
    redis::cmd("DEL").arg("ready").query_async::<()>(&mut conn).await.expect("DEL");
    let deadline = Instant::now() + Duration::from_secs(5);
    while page().query_async::<(bool, Vec<String>)>(&mut tracked).await.expect("page").0 {
        assert!(Instant::now() < deadline, "the page still finds the model ready");
    }
}

#[tokio::test]
async fn a_write_is_refused_and_an_error_is_not_kept() {
    let redis = TestRedis::new().await;
    let (mut tracked, mut conn) = (tracked(&redis).await, redis.conn().await);
    let write = redis::cmd("SET").arg("k").arg("v").query_async::<()>(&mut tracked).await;
    assert!(write.unwrap_err().to_string().contains("reads of named keys only"));
    redis::cmd("ZADD").arg("k").arg(0).arg("a").query_async::<()>(&mut conn).await.expect("ZADD");
    assert!(redis::cmd("GET").arg("k").query_async::<Option<String>>(&mut tracked).await.is_err());
    assert_eq!(tracked.kept().0, 0);
}

/// Readers hammer keys a writer moves on, each to its last value: a reply
/// read before a write but kept after its invalidation went by would stay
/// stale for good, and the last loop would never see the last values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_concurrent_writes_every_reader_ends_on_the_last_value() {
    let redis = TestRedis::new().await;
    let tracked = tracked(&redis).await;
    let mut conn = redis.conn().await;
    const KEYS: usize = 8;
    const WRITES: usize = 2_000;
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..8)
        .map(|r| {
            let (mut tracked, done) = (tracked.clone(), done.clone());
            tokio::spawn(async move {
                let mut n = r;
                while !done.load(Ordering::Relaxed) {
                    get(&mut tracked, &format!("k{}", n % KEYS)).await;
                    n += 1;
                    // A read from memory never waits: let the connections' tasks run.
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for w in 0..WRITES {
        set(&mut conn, &format!("k{}", w % KEYS), &w.to_string()).await;
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("a reader");
    }
    let mut tracked = tracked;
    for k in 0..KEYS {
        let last = (0..WRITES).rev().find(|w| w % KEYS == k).expect("a write to each key");
        reads_at_last(&mut tracked, &format!("k{k}"), Some(&last.to_string())).await;
    }
}

/// A lost connection loses Redis's memory of what was read: what was kept
/// goes, and a write made while the client reconnects is not missed.
#[tokio::test]
async fn a_lost_connection_drops_what_was_kept() {
    let redis = TestRedis::new().await;
    let (mut tracked, mut conn) = (tracked(&redis).await, redis.conn().await);
    set(&mut conn, "flight", "10 seats").await;
    assert_eq!(get(&mut tracked, "flight").await.as_deref(), Some("10 seats"));
    let db = redis.url.rsplit('/').next().expect("a database");
    let clients: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut conn).await.expect("CLIENT LIST");
    let ours: Vec<&str> = clients
        .lines()
        .filter(|line| line.contains(&format!(" db={db} ")))
        .filter(|line| line.split(' ').any(|field| field.starts_with("flags=") && field.contains('t')))
        .filter_map(|line| line.split(' ').find_map(|field| field.strip_prefix("id=")))
        .collect();
    assert_eq!(ours.len(), 1, "one tracking client on db {db}: {clients}");
    let _: () =
        redis::cmd("CLIENT").arg("KILL").arg("ID").arg(ours[0]).query_async(&mut conn).await.expect("KILL");
    set(&mut conn, "flight", "9 seats").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match redis::cmd("GET").arg("flight").query_async::<Option<String>>(&mut tracked).await {
            Ok(Some(read)) if read == "9 seats" => break,
            _ => assert!(Instant::now() < deadline, "still no fresh read after the connection was lost"),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
