//! A PostgreSQL database of its own for each test, reached through the test
//! command's PgBouncer as functions reach it in a cluster.

use std::net::SocketAddr;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Executor, PgPool};

use crate::config::{Section, Settings};

/// The server tests create their databases on: the functions' (`DATABASE_URL`,
/// or its default), by its maintenance database.
pub(super) fn admin_options() -> PgConnectOptions {
    let url = Settings::from_env("database_url");
    PgConnectOptions::from_str(&url).expect("DATABASE_URL is not a PostgreSQL URL").database("postgres")
}

/// The PgBouncer (transaction mode) the tests reach PostgreSQL through, if any.
pub fn pooler() -> Option<SocketAddr> {
    std::env::var("TEST_POOLER_ADDR").ok().and_then(|addr| addr.parse().ok())
}

/// The pool mode functions run in under the tests: `transaction` behind the pooler.
pub(super) fn pool_mode() -> &'static str {
    if pooler().is_some() { "transaction" } else { "session" }
}

/// A database of its own for one test, migrated. Named `skybook_test_*`;
/// the test command drops those left from earlier runs.
pub struct TestDb {
    pub name: String,
    pub pool: PgPool,
    options: PgConnectOptions,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let admin = admin_options();
        let name = format!("skybook_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin.clone().database("postgres").connect().await.expect("connect to PostgreSQL");
        conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .expect("create the test database");
        let options = admin.database(&name);
        // Few connections: the functions under test need PostgreSQL's too.
        let pool =
            PgPoolOptions::new().max_connections(5).connect_with(options.clone()).await.expect("connect");
        crate::db::MIGRATOR.run(&pool).await.expect("migrate the test database");
        TestDb { name, pool, options }
    }

    /// The database as a function under test reaches it (through the
    /// pooler when there is one), with these settings besides.
    pub fn database(&self, settings: &[(&str, &str)]) -> crate::db::Database {
        let url = self.url();
        let mut all = vec![("database_url", url.as_str()), ("db_pool_mode", pool_mode())];
        all.extend_from_slice(settings);
        let settings = crate::config::Settings::with_overrides(&all).expect("settings");
        crate::db::Database::new(&settings).expect("a database")
    }

    /// The URL functions use: through the transaction-mode pooler the test
    /// command runs (`TEST_POOLER_ADDR`), as in a cluster; else PostgreSQL.
    pub fn url(&self) -> String {
        self.url_via(pooler())
    }

    /// PostgreSQL itself, past any pooler.
    pub fn direct_url(&self) -> String {
        self.url_via(None)
    }

    /// One of the pooler's counts for this database (`SHOW STATS` in its
    /// console, which speaks only the simple protocol): the queries it ran
    /// (`total_query_count`, a round trip each), the named statements it
    /// parsed on server connections (`total_server_parse_count`), say.
    /// `None` without a pooler.
    pub fn pooler_count(&self, name: &str) -> Option<i64> {
        let pooler = pooler()?;
        let output = std::process::Command::new("psql")
            .args(["-h", &pooler.ip().to_string(), "-p", &pooler.port().to_string()])
            .args(["-U", self.options.get_username(), "-d", "pgbouncer", "-AF", "\t", "-c", "SHOW STATS"])
            .output()
            .expect("psql");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
        let column = header
            .iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("no {name}: PgBouncer 1.21 or later"));
        Some(
            lines
                .map(|l| l.split('\t').collect::<Vec<_>>())
                .find(|row| row.first() == Some(&self.name.as_str()))
                .map_or(0, |row| row[column].parse().unwrap()),
        )
    }

    /// The database's URL, through another address (a [`TcpProxy`]) if given.
    pub fn url_via(&self, addr: Option<SocketAddr>) -> String {
        let host = addr.map_or_else(
            || format!("{}:{}", self.options.get_host(), self.options.get_port()),
            |a| a.to_string(),
        );
        let user = self.options.get_username();
        format!("postgres://{user}:postgres@{host}/{}", self.name)
    }
}
