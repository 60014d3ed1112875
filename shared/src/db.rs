//! PostgreSQL: a lazily connecting pool, the migrations, and error triage.

use std::str::FromStr;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::Settings;

/// The project's migrations, embedded in every binary that runs them.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// A pool that opens no connection until a request needs one, so start-up
/// does no network work. Each connection is pinged before use, so a
/// restarted database costs one failed request at most, not a broken pool;
/// and each has a `statement_timeout`, so no statement holds it for long.
pub fn lazy_pool(settings: &Settings) -> Result<PgPool, String> {
    let url = settings.database_url.expose();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err("configuration: DATABASE_URL: must be a postgres:// URL".into());
    }
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| format!("configuration: DATABASE_URL: {e}"))?
        .application_name("skybook")
        .options([("statement_timeout", settings.db_statement_timeout_ms.to_string())]);
    Ok(PgPoolOptions::new()
        .max_connections(settings.db_pool_size)
        .min_connections(0)
        .acquire_timeout(settings.db_acquire_timeout())
        .idle_timeout(std::time::Duration::from_secs(60))
        .test_before_acquire(true)
        .connect_lazy_with(options))
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

/// The name of the constraint a statement violated, if that is what failed.
pub fn violated_constraint(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

/// `SELECT 1` with the pool's acquire timeout: the readiness check.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}

/// The migration job's whole life: read the settings, migrate, exit 0 or 1.
pub fn migrate_main() -> std::process::ExitCode {
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(line) => {
            eprintln!("skybook-migrate: {line}");
            return std::process::ExitCode::from(2);
        }
    };
    crate::telemetry::init(&settings);
    let migrated = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(async {
                let options =
                    PgConnectOptions::from_str(settings.database_url.expose()).map_err(|e| e.to_string())?;
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .map_err(|e| e.to_string())?;
                MIGRATOR.run(&pool).await.map_err(|e| e.to_string())
            })
        });
    match migrated {
        Ok(()) => {
            tracing::info!("migrations applied");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("skybook-migrate: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
