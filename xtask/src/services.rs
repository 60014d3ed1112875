//! PostgreSQL (and PgBouncer before it), Redis and RabbitMQ: made reachable by `scripts/ensure-services.sh`,
//! then the database created and migrated.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context;
use shared::config::{Section, Settings};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

/// `cargo`, run as from the workspace by hand: without the variables
/// `cargo run` set for this xtask (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, …),
/// which some build scripts watch, so the builds here and by hand reuse
/// each other's artifacts instead of rebuilding most of the tree.
pub fn cargo() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_this_crate =
            ["CARGO_MANIFEST_", "CARGO_PKG_", "CARGO_CRATE_", "CARGO_BIN_", "CARGO_PRIMARY_"]
                .iter()
                .any(|prefix| name.starts_with(prefix));
        if set_for_this_crate {
            command.env_remove(name.as_ref());
        }
    }
    command
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

/// The functions' database, as the environment or the functions' default gives it.
pub fn database_url() -> String {
    Settings::from_env("database_url")
}

/// The functions' Redis, likewise.
pub fn redis_url() -> String {
    Settings::from_env("redis_url")
}

/// The local broker's RabbitMQ, likewise.
pub fn amqp_url() -> String {
    broker::Config::from_env("amqp_url")
}

/// Where PgBouncer (transaction mode) listens, in front of PostgreSQL.
pub fn pooler_addr() -> String {
    std::env::var("POOLER_ADDR").unwrap_or_else(|_| "127.0.0.1:6432".to_owned())
}

/// The server connections the local pooler keeps per database and user
/// (`default_pool_size`, which `scripts/ensure-services.sh` writes).
pub const POOLER_SERVER_CONNECTIONS: u32 = 10;

/// `url` with its host and port replaced by the pooler's: the same
/// database, user and password, reached through PgBouncer.
pub fn via_pooler(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (credentials, host_and_path) = match rest.rsplit_once('@') {
        Some((credentials, after)) => (format!("{credentials}@"), after),
        None => (String::new(), rest),
    };
    let path = host_and_path.find('/').map_or("", |i| &host_and_path[i..]);
    format!("{scheme}://{credentials}{}{path}", pooler_addr())
}

/// Runs the services script; it installs and starts what it can and
/// otherwise says exactly what to do.
pub fn ensure() -> anyhow::Result<()> {
    let script = workspace_root().join("scripts/ensure-services.sh");
    let status =
        std::process::Command::new("bash").arg(&script).status().context("running the services script")?;
    if !status.success() {
        anyhow::bail!("the services Skybook needs are not reachable (see above)");
    }
    Ok(())
}

/// Creates the database named in `url` if it does not exist, then migrates it.
pub async fn migrate(url: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(url).context("DATABASE_URL")?;
    let name = options.get_database().unwrap_or("skybook").to_owned();
    let mut admin =
        options.clone().database("postgres").connect().await.context("connecting to PostgreSQL")?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut admin)
        .await?;
    if !exists {
        admin.execute(format!(r#"CREATE DATABASE "{}""#, name.replace('"', "\"\"")).as_str()).await?;
        eprintln!("migrate: created database {name}");
    }
    admin.close().await?;
    let mut conn = options.connect().await.context("connecting to the database")?;
    shared::db::MIGRATOR.run(&mut conn).await.context("applying migrations")?;
    eprintln!("migrate: database {name} is up to date");
    Ok(())
}

/// Drops the per-test databases earlier runs left behind.
pub async fn drop_test_databases(url: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(url).context("DATABASE_URL")?.database("postgres");
    let mut admin = options.connect().await.context("connecting to PostgreSQL")?;
    let stale: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'skybook\\_test\\_%'")
            .fetch_all(&mut admin)
            .await?;
    for name in &stale {
        admin.execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str()).await?;
    }
    if !stale.is_empty() {
        eprintln!("test: dropped {} test databases of earlier runs", stale.len());
    }
    Ok(())
}

/// The database `<name>_<suffix>` on DATABASE_URL's server, beside the
/// development one (the benchmarks', the smoke test's).
pub fn sibling_database_url(suffix: &str) -> anyhow::Result<String> {
    let url = database_url();
    let options = PgConnectOptions::from_str(&url).context("DATABASE_URL")?;
    let name = options.get_database().unwrap_or("skybook");
    let base = url.rsplit_once('/').map(|(base, _)| base).context("DATABASE_URL has no database")?;
    Ok(format!("{base}/{name}_{suffix}"))
}

/// The name of the database `url` names.
pub fn database_name(url: &str) -> anyhow::Result<String> {
    let options = PgConnectOptions::from_str(url).context("DATABASE_URL")?;
    Ok(options.get_database().context("no database in the URL")?.to_owned())
}

/// Drops the database named in `url` if it exists.
pub async fn drop_database(url: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(url).context("DATABASE_URL")?;
    let name = database_name(url)?;
    let mut admin =
        options.clone().database("postgres").connect().await.context("connecting to PostgreSQL")?;
    admin
        .execute(format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, name.replace('"', "\"\"")).as_str())
        .await?;
    admin.close().await?;
    Ok(())
}

/// Redis database `index` of REDIS_URL's server, emptied; its URL.
pub fn fresh_redis_db(index: u8) -> anyhow::Result<String> {
    let base = redis_url();
    let (scheme, rest) = base.split_once("://").unwrap_or(("redis", base.as_str()));
    let url = format!("{scheme}://{}/{index}", rest.split('/').next().unwrap_or(rest));
    let mut conn = redis::Client::open(url.as_str())?.get_connection().context("connecting to Redis")?;
    redis::cmd("FLUSHDB").query::<()>(&mut conn)?;
    Ok(url)
}

/// Runs `serve` on a thread of its own, with a runtime of its own, for as
/// long as this process runs: how the local stack's helpers (the issuer, the
/// model's stand-in) serve. `serve` says where it listens, or why it cannot,
/// through the sender it is given; that is returned.
pub fn on_own_thread<Fut>(
    serve: impl FnOnce(std::sync::mpsc::Sender<Result<String, String>>) -> Fut + Send + 'static,
) -> anyhow::Result<String>
where
    Fut: std::future::Future<Output = ()>,
{
    let (ready, started) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => return drop(ready.send(Err(e.to_string()))),
        };
        runtime.block_on(serve(ready));
    });
    started.recv().context("the server's thread")?.map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pooler_keeps_the_server_connections_the_stack_counts_on() {
        let script =
            std::fs::read_to_string(super::workspace_root().join("scripts/ensure-services.sh")).unwrap();
        let line = format!("default_pool_size = {}", super::POOLER_SERVER_CONNECTIONS);
        assert!(script.lines().any(|l| l.trim() == line), "ensure-services.sh has no `{line}`");
    }
}
