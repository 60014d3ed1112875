//! A Redis database of its own for each test.

use std::fs::{File, TryLockError};
use std::net::SocketAddr;
use std::str::FromStr;

use crate::config::{Section, Settings};

/// A Redis database of its own for one test: one of the numbered databases
/// 1 to 14 of the server at `REDIS_URL` (0 is the local stack's, 15 the benchmarks'),
/// flushed when taken and free again when dropped.
pub struct TestRedis {
    pub url: String,
    /// The lease on its database: a lock on a file named for the server and
    /// the database, held while this lives. A lock of the file system, not
    /// of this process, so test binaries run side by side (cargo nextest
    /// runs a process per test) never share a database, and a killed test
    /// leaves none taken.
    _lease: File,
}

/// The databases tests may take.
const DATABASES: std::ops::RangeInclusive<u8> = 1..=14;

impl TestRedis {
    pub async fn new() -> TestRedis {
        let url = Settings::from_env("redis_url");
        // The server part only: scheme, credentials, host and port, no database.
        let (scheme, rest) = url.split_once("://").unwrap_or(("redis", url.as_str()));
        let server = rest.split('/').next().unwrap_or(rest);
        let base = format!("{scheme}://{server}");
        let (index, lease) = lease(server).await;
        let url = format!("{base}/{index}");
        let client = redis::Client::open(url.as_str()).expect("REDIS_URL");
        let mut conn = client.get_multiplexed_async_connection().await.expect("connect to Redis");
        redis::cmd("FLUSHDB").query_async::<()>(&mut conn).await.expect("FLUSHDB");
        TestRedis { url, _lease: lease }
    }

    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect")
    }
}

/// The first free database of `server`, and its lease; waits while every
/// one is taken.
async fn lease(server: &str) -> (u8, File) {
    let dir = std::env::temp_dir().join("skybook-test-redis");
    std::fs::create_dir_all(&dir).expect("a directory for the Redis leases");
    let server: String = server.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    loop {
        for index in DATABASES {
            let path = dir.join(format!("{server}-{index}.lock"));
            let file =
                File::options().create(true).truncate(false).write(true).open(&path).expect("a lease file");
            match file.try_lock() {
                Ok(()) => return (index, file),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => panic!("locking {}: {e}", path.display()),
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_is_leased_to_one_holder_in_any_process_until_dropped() {
        let server = format!("leasetest{}", std::process::id());
        let (first, _held) = lease(&server).await;
        let (second, dropped) = lease(&server).await;
        assert_eq!((first, second), (1, 2));
        // Another process sees the lease too (what cargo nextest runs).
        let file = std::env::temp_dir().join("skybook-test-redis").join(format!("{server}-1.lock"));
        let other = std::process::Command::new("flock").arg("-n").arg(&file).arg("true").status().unwrap();
        assert!(!other.success(), "another process took a leased database");
        drop(dropped);
        assert_eq!(lease(&server).await.0, 2, "a dropped lease is free again");
        for index in [1, 2] {
            let _ = std::fs::remove_file(file.with_file_name(format!("{server}-{index}.lock")));
        }
    }
}
