//! The process's connections to PostgreSQL, or to the pooler in front of it:
//! at most `max`, opened when a request needs one, closed after a minute
//! idle. A connection goes back with no round trip: sqlx's own pool sends a
//! `Sync` with every one it gets back, which behind PgBouncer is one more
//! round trip, and a server connection assigned, for every request. One
//! given back in a transaction (its request failed or was dropped) is
//! rolled back first, in a task of its own, so its locks go at once; one
//! given back mid-statement is drained by its next statement, as sqlx does
//! before each; one that failed on the wire is closed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A transaction is open: given back now, it is rolled back first.
pub(super) const IN_TRANSACTION: u8 = 1;
/// The connection failed on the wire: it is closed, not given back.
pub(super) const BROKEN: u8 = 2;

pub(super) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    options: PgConnectOptions,
    /// One per connection in use (or being opened): at most `max`.
    permits: Arc<Semaphore>,
    max: u32,
    /// The most recently given back last.
    idle: Mutex<VecDeque<(PgConnection, Instant)>>,
    /// Connections open, idle or in use.
    open: AtomicU32,
    acquire_timeout: Duration,
    idle_timeout: Duration,
    /// Whether a connection is pinged before it is reused (straight to
    /// PostgreSQL, where a restarted server breaks every connection).
    test_before_use: bool,
    closed: AtomicBool,
}

/// Settings of a [`Pool`].
pub(super) struct Options {
    pub max: u32,
    pub acquire_timeout: Duration,
    pub idle_timeout: Duration,
    pub test_before_use: bool,
}

impl Pool {
    pub fn new(connect: PgConnectOptions, options: Options) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                options: connect,
                permits: Arc::new(Semaphore::new(options.max as usize)),
                max: options.max,
                idle: Mutex::new(VecDeque::new()),
                open: AtomicU32::new(0),
                acquire_timeout: options.acquire_timeout,
                idle_timeout: options.idle_timeout,
                test_before_use: options.test_before_use,
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// A connection: an idle one, or a new one while fewer than `max` are
    /// in use; waits at most the acquire timeout for one to be given back.
    pub async fn acquire(&self) -> Result<Pooled, sqlx::Error> {
        let shared = &self.shared;
        let deadline = Instant::now() + shared.acquire_timeout;
        let permit = tokio::time::timeout_at(deadline.into(), shared.permits.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        if shared.closed.load(Ordering::Acquire) {
            return Err(sqlx::Error::PoolClosed);
        }
        while let Some(mut conn) = shared.take_idle() {
            if !shared.test_before_use || conn.ping().await.is_ok() {
                return Ok(Pooled::new(conn, shared.clone(), permit));
            }
            shared.forget(conn);
        }
        let conn = tokio::time::timeout_at(deadline.into(), PgConnection::connect_with(&shared.options))
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        if shared.open.fetch_add(1, Ordering::AcqRel) == 0 {
            reap_idle(Arc::downgrade(shared));
        }
        Ok(Pooled::new(conn, shared.clone(), permit))
    }

    /// Closes the idle connections, and each one in use as it is given back.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.permits.close();
        let idle = std::mem::take(&mut *self.shared.lock_idle());
        for (conn, _) in idle {
            self.shared.forget(conn);
        }
    }

    /// Connections open (idle or in use), idle, and at most in use.
    pub fn sizes(&self) -> (u32, usize, u32) {
        let idle = self.shared.lock_idle().len();
        (self.shared.open.load(Ordering::Acquire), idle, self.shared.max)
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (open, idle, max) = self.sizes();
        f.debug_struct("Pool").field("open", &open).field("idle", &idle).field("max", &max).finish()
    }
}

/// Closes connections idle past the timeout, every half of it, while the
/// pool has any open (a process that stops taking requests lets its
/// connections go): the task ends when none is left, and the next opened
/// starts it again.
fn reap_idle(shared: Weak<Shared>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    runtime.spawn(async move {
        loop {
            let Some(every) = shared.upgrade().map(|s| s.idle_timeout / 2) else { return };
            tokio::time::sleep(every).await;
            let Some(shared) = shared.upgrade() else { return };
            drop(shared.take_expired());
            if shared.open.load(Ordering::Acquire) == 0 {
                return;
            }
        }
    });
}

impl Shared {
    fn lock_idle(&self) -> std::sync::MutexGuard<'_, VecDeque<(PgConnection, Instant)>> {
        // A panic elsewhere while holding it leaves a plain list, still sound.
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The connection given back last, after closing those idle too long.
    fn take_idle(&self) -> Option<PgConnection> {
        let mut idle = self.take_expired();
        idle.pop_back().map(|(conn, _)| conn)
    }

    /// Closes the connections idle past the timeout (the oldest are first).
    fn take_expired(&self) -> std::sync::MutexGuard<'_, VecDeque<(PgConnection, Instant)>> {
        let mut idle = self.lock_idle();
        while idle.front().is_some_and(|(_, since)| since.elapsed() >= self.idle_timeout) {
            if let Some((conn, _)) = idle.pop_front() {
                self.forget(conn);
            }
        }
        idle
    }

    fn give_back(&self, conn: PgConnection) {
        if self.closed.load(Ordering::Acquire) {
            return self.forget(conn);
        }
        self.lock_idle().push_back((conn, Instant::now()));
    }

    /// Drops a connection (the server sees its socket close).
    fn forget(&self, conn: PgConnection) {
        drop(conn);
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection in use, given back to its pool when dropped.
pub(super) struct Pooled {
    conn: Option<PgConnection>,
    /// [`IN_TRANSACTION`], [`BROKEN`]: what it may owe when given back.
    pub(super) state: AtomicU8,
    shared: Arc<Shared>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Pooled {
    fn new(conn: PgConnection, shared: Arc<Shared>, permit: OwnedSemaphorePermit) -> Pooled {
        Pooled { conn: Some(conn), state: AtomicU8::new(0), shared, permit: Some(permit) }
    }

    /// The connection and its state, for one statement.
    pub fn parts(&mut self) -> (&mut PgConnection, &AtomicU8) {
        // Only `drop` takes the connection out.
        let conn = self.conn.as_mut().expect("a pooled connection until dropped");
        (conn, &self.state)
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        let (state, shared, permit) = (*self.state.get_mut(), self.shared.clone(), self.permit.take());
        if state & BROKEN != 0 {
            return shared.forget(conn);
        }
        if state & IN_TRANSACTION == 0 {
            return shared.give_back(conn);
        }
        // Rolled back before anyone else gets it, and before its permit lets
        // another open a connection.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return shared.forget(conn) };
        runtime.spawn(async move {
            match conn.execute("ROLLBACK").await {
                Ok(_) => shared.give_back(conn),
                Err(_) => shared.forget(conn),
            }
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;
    use std::time::Duration;

    use super::{Options, Pool};
    use crate::config::{Section, Settings};

    #[tokio::test]
    async fn connections_idle_past_the_timeout_are_closed_with_no_request_to_notice() {
        // The server the tests use (`DATABASE_URL`, or its default), by its
        // maintenance database: nothing is written.
        let url = Settings::from_env("database_url");
        let connect = sqlx::postgres::PgConnectOptions::from_str(&url).unwrap().database("postgres");
        let options = Options {
            max: 2,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_millis(200),
            test_before_use: true,
        };
        let pool = Pool::new(connect, options);
        let (a, b) = (pool.acquire().await.unwrap(), pool.acquire().await.unwrap());
        drop((a, b));
        assert_eq!(pool.sizes(), (2, 2, 2));
        // No acquire comes to close them on its way: the pool does.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(pool.sizes(), (0, 0, 2));
        // And opens one again when asked.
        drop(pool.acquire().await.unwrap());
        assert_eq!(pool.sizes(), (1, 1, 2));
    }
}
