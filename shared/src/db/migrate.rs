//! The migration Job's whole life: wait for PostgreSQL, migrate, exit 0 or 1.

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::MIGRATOR;
use crate::config::Settings;

/// How long the Job waits for PostgreSQL to accept connections: on a fresh
/// install the database is created beside it and takes a minute or two.
const WAIT_FOR_DATABASE: Duration = Duration::from_secs(300);

pub fn migrate_main() -> std::process::ExitCode {
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(line) => {
            eprintln!("skybook-migrate: {line}");
            return std::process::ExitCode::from(2);
        }
    };
    crate::telemetry::init("skybook-migrate", &settings.rust_log, settings.log_format);
    let migrated = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(migrate(&settings)));
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

async fn migrate(settings: &Settings) -> Result<(), String> {
    // Migrations hold a session-level advisory lock: they go to PostgreSQL
    // itself, never through a transaction-mode pooler.
    let (name, url) = match &settings.migration_database_url {
        Some(url) => ("MIGRATION_DATABASE_URL", url.expose()),
        None => ("DATABASE_URL", settings.database_url.expose()),
    };
    let options = PgConnectOptions::from_str(url).map_err(|e| format!("configuration: {name}: {e}"))?;
    let started = Instant::now();
    let pool = loop {
        match PgPoolOptions::new().max_connections(1).connect_with(options.clone()).await {
            Ok(pool) => break pool,
            Err(e) if crate::db::is_transient(&e) && started.elapsed() < WAIT_FOR_DATABASE => {
                tracing::info!(error = %e, "waiting for PostgreSQL");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(format!("cannot connect to PostgreSQL ({name}): {e}")),
        }
    };
    MIGRATOR.run(&pool).await.map_err(|e| e.to_string())
}
