//! PostgreSQL: the database as a function reaches it (directly or through a
//! pooler), the migrations, retention, and error triage.

mod conn;
mod migrate;
mod pool;
pub mod retention;

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnectOptions;

pub use conn::{Conn, Exec};
pub use migrate::migrate_main;

use crate::config::{PoolMode, Settings};
use crate::metrics::labels;

pub(crate) static POOL: crate::metrics::Gauges =
    crate::metrics::gauges("db_pool_connections", "Connections of the pool, by state (in_use, idle, max)");
/// The pool's families, which every function that uses PostgreSQL reports.
pub(crate) const METRICS: &[&dyn crate::metrics::Registered] = &[&POOL, &ACQUIRE];
pub(crate) static ACQUIRE: crate::metrics::Histograms = crate::metrics::histograms(
    "db_acquire_seconds",
    "Time to get a connection from the pool and open its transaction, by kind (write, read)",
);

/// The project's migrations, embedded in every binary that runs them.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// The database a function reaches: PostgreSQL itself, or a pooler in front
/// of it. Cheap to clone. Opens no connection until a request needs one, so
/// start-up does no network work; no statement runs longer than
/// `DB_STATEMENT_TIMEOUT_MS`. Statements are prepared once per connection
/// and cached, except behind a pooler that cannot keep them.
///
/// Straight to PostgreSQL each connection is pinged before use, so a
/// restarted database costs one failed request at most. Behind a pooler the
/// ping would be a round trip through it to a server connection on every
/// request, for what the pooler already does (it reconnects to a restarted
/// PostgreSQL itself): a broken client connection fails its request as
/// retryable (503) and is dropped from the pool.
#[derive(Clone, Debug)]
pub struct Database {
    pool: Arc<pool::Pool>,
    mode: PoolMode,
    /// What opens each transaction in transaction mode, where the pooler
    /// takes no startup options: `BEGIN` and the statement timeout, one
    /// round trip.
    begin: Cow<'static, str>,
    begin_read: Cow<'static, str>,
    server: Arc<conn::Server>,
}

impl Database {
    pub fn new(settings: &Settings) -> Result<Self, String> {
        let url = settings.database_url.expose();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("configuration: DATABASE_URL: must be a postgres:// URL".into());
        }
        let timeout = settings.db_statement_timeout_ms;
        let mut options =
            PgConnectOptions::from_str(url).map_err(|e| format!("configuration: DATABASE_URL: {e}"))?;
        options = options.application_name("skybook");
        let server = Arc::new(conn::Server {
            address: options.get_host().to_owned(),
            port: options.get_port(),
            // With none named, PostgreSQL opens the one named as the user.
            database: options.get_database().unwrap_or(options.get_username()).to_owned(),
        });
        options = match settings.db_pool_mode {
            PoolMode::Session => options.options([("statement_timeout", timeout.to_string())]),
            // A transaction-mode pooler hands each transaction to any server
            // connection: no session setting may live on one, and PgBouncer
            // refuses startup options. One that keeps prepared statements
            // prepares ours again wherever they run; an older one cannot.
            PoolMode::Transaction => options.extra_float_digits(None),
            PoolMode::TransactionUnnamed => options.statement_cache_capacity(0).extra_float_digits(None),
        };
        let pool = Arc::new(pool::Pool::new(
            options,
            pool::Options {
                max: settings.db_pool_size,
                acquire_timeout: settings.db_acquire_timeout(),
                idle_timeout: std::time::Duration::from_secs(60),
                test_before_use: settings.db_pool_mode == PoolMode::Session,
            },
        ));
        Ok(Database {
            pool,
            mode: settings.db_pool_mode,
            begin: format!("BEGIN; SET LOCAL statement_timeout = {timeout}").into(),
            begin_read: format!("BEGIN READ ONLY; SET LOCAL statement_timeout = {timeout}").into(),
            server,
        })
    }

    /// Closes the connections: the idle ones now, those in use as they are
    /// given back.
    pub fn close(&self) {
        self.pool.close();
    }

    /// A transaction: everything in it commits with [`Conn::commit`], or
    /// rolls back when it is dropped.
    pub async fn begin(&self) -> Result<Conn, sqlx::Error> {
        let started = Instant::now();
        let mut conn = self.connection().await?;
        // In transaction mode the pooler takes no startup options: the
        // statement timeout goes with each BEGIN, in its round trip.
        conn.begin(match self.mode {
            PoolMode::Session => "BEGIN",
            PoolMode::Transaction | PoolMode::TransactionUnnamed => &self.begin,
        })
        .await?;
        ACQUIRE.get_or_create(&labels(&[("kind", "write")])).observe(started.elapsed().as_secs_f64());
        Ok(conn)
    }

    async fn connection(&self) -> Result<Conn, sqlx::Error> {
        let pooled = self.pool.acquire().await?;
        Ok(Conn { pooled, unnamed: self.unnamed(), server: self.server.clone() })
    }

    /// A connection for reads: each statement on its own, one round trip,
    /// as straight to PostgreSQL. Behind a pooler that keeps prepared
    /// statements no transaction is needed, and none is paid for (a BEGIN
    /// and a COMMIT would triple the round trips of a lookup); the
    /// statement timeout, which reaches a server connection there only
    /// inside a transaction, matters little to a read, which PostgreSQL
    /// never makes wait on a row lock, and the pooler's `query_timeout`
    /// bounds it. Behind an older pooler it is a read-only transaction, the
    /// only way an unnamed statement stays on one server connection from
    /// parse to execute.
    pub async fn read(&self) -> Result<Conn, sqlx::Error> {
        let started = Instant::now();
        let mut conn = self.connection().await?;
        if self.mode == PoolMode::TransactionUnnamed {
            conn.begin(&self.begin_read).await?;
        }
        ACQUIRE.get_or_create(&labels(&[("kind", "read")])).observe(started.elapsed().as_secs_f64());
        Ok(conn)
    }

    /// Sets the pool gauges to what the pool holds now (called as /metrics is scraped).
    pub fn observe_pool(&self) {
        let (open, idle, max) = self.pool.sizes();
        POOL.get_or_create(&labels(&[("state", "in_use")])).set(i64::from(open) - idle as i64);
        POOL.get_or_create(&labels(&[("state", "idle")])).set(idle as i64);
        POOL.get_or_create(&labels(&[("state", "max")])).set(i64::from(max));
    }

    /// A connection whose statements each commit by themselves, for a
    /// command written as one statement. `None` behind a pooler that
    /// keeps no prepared statements, where a statement stays on one server
    /// connection only inside a transaction. Behind one that keeps them, the
    /// statement timeout does not reach the statement (as for [`read`]): the
    /// pooler's `query_timeout` bounds it, a row lock it waits on is held by
    /// transactions that have theirs.
    ///
    /// [`read`]: Database::read
    pub async fn autocommit(&self) -> Result<Option<Conn>, sqlx::Error> {
        if self.unnamed() {
            return Ok(None);
        }
        let started = Instant::now();
        let conn = self.connection().await?;
        ACQUIRE.get_or_create(&labels(&[("kind", "write")])).observe(started.elapsed().as_secs_f64());
        Ok(Some(conn))
    }

    /// Opens one connection in the background, so the first request does
    /// not pay for it; a database that is down only costs a log line.
    pub fn warm_up(&self) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            if let Err(e) = pool.acquire().await.map(drop) {
                tracing::debug!(error = %e, "the database is not reachable yet");
            }
        });
    }

    fn unnamed(&self) -> bool {
        self.mode == PoolMode::TransactionUnnamed
    }
}

/// Whether an error means "the database is not reachable right now"
/// (worth a retry) rather than a bug or a refused statement.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P0x: server shutting down;
            // 57014: statement timeout (a lock held too long, an overload);
            // 53300: too many connections; 40001/40P01: retry the transaction.
            code.starts_with("08")
                || code.starts_with("57P0")
                || code == "57014"
                || code == "53300"
                || code == "40001"
                || code == "40P01"
        }),
        _ => false,
    }
}

/// A database error as the caller sees it: 503 when a retry may work,
/// 500 when it will not.
impl From<sqlx::Error> for crate::Error {
    fn from(e: sqlx::Error) -> Self {
        if is_transient(&e) {
            crate::Error::unavailable("database_unavailable", e)
        } else {
            crate::Error::Internal(e.into())
        }
    }
}

/// The name of the constraint a statement violated, if that is what failed.
pub fn violated_constraint(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

/// `SELECT 1` with the pool's acquire timeout: the dependency check.
pub async fn ping(db: &Database) -> Result<(), sqlx::Error> {
    let mut conn = db.read().await?;
    sqlx::query("SELECT 1").execute(conn.exec()).await.map(|_| ())
}
