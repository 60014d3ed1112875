//! A Redis database of its own for each test.

use std::net::SocketAddr;
use std::str::FromStr;

use tokio::sync::Notify;

use crate::config::{Section, Settings};

/// A Redis database of its own for one test: one of the numbered databases
/// 1 to 14 of the server at `REDIS_URL` (0 is the local stack's, 15 the benchmarks'),
/// flushed when taken and handed back when dropped.
pub struct TestRedis {
    pub url: String,
    index: u8,
}

static REDIS_DBS: std::sync::Mutex<Vec<bool>> = std::sync::Mutex::new(Vec::new());
static REDIS_FREED: Notify = Notify::const_new();

impl TestRedis {
    pub async fn new() -> TestRedis {
        let url = Settings::from_env("redis_url");
        // The server part only: scheme, credentials, host and port, no database.
        let (scheme, rest) = url.split_once("://").unwrap_or(("redis", url.as_str()));
        let base = format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest));
        let index = loop {
            let freed = REDIS_FREED.notified();
            {
                let mut taken = REDIS_DBS.lock().expect("redis dbs");
                if taken.is_empty() {
                    *taken = vec![false; 16];
                    taken[0] = true;
                    taken[15] = true;
                }
                if let Some(i) = taken.iter().position(|t| !t) {
                    taken[i] = true;
                    break i as u8;
                }
            }
            freed.await;
        };
        let url = format!("{base}/{index}");
        let client = redis::Client::open(url.as_str()).expect("REDIS_URL");
        let mut conn = client.get_multiplexed_async_connection().await.expect("connect to Redis");
        redis::cmd("FLUSHDB").query_async::<()>(&mut conn).await.expect("FLUSHDB");
        TestRedis { url, index }
    }

    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect")
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        if let Ok(mut taken) = REDIS_DBS.lock() {
            taken[self.index as usize] = false;
        }
        REDIS_FREED.notify_waiters();
    }
}

/// The address of the Redis server the tests use.
pub fn redis_addr() -> SocketAddr {
    let url = Settings::from_env("redis_url");
    let host = url.trim_start_matches("redis://").split('/').next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.replace("localhost", "127.0.0.1");
    SocketAddr::from_str(&host).expect("Redis host must be an IP address and port")
}
