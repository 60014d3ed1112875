//! Benchmarks, each figure a median of several runs and a ratio to a baseline
//! measured in the same run: `cargo xtask bench` runs them all, prints the
//! table and writes `target/bench/results.json`.
//!
//! - startup: cold start (exec to the first successful reply) of every
//!   function against a minimal hyper binary; idle and loaded peak RSS; size.
//! - booking: create-booking on the stack the README starts, under wrk at
//!   1, 16 and 64 clients, over many flights and one hot flight, against the
//!   same SQL transaction in pgbench; CPU per booking by process.
//! - queries: get-flight and list-flights on that stack over 10,000
//!   flights, against the same SELECT in pgbench; CPU per request by process.
//! - pipeline: booking events from the broker ingress to the Redis stats,
//!   against the stats script alone in redis-benchmark.
//! - tracing: create-booking traced (every span exported) against untraced.

mod as_quoted;
mod booking;
mod cpu;
mod dedup;
pub mod pipeline;
mod process;
mod queries;
mod scale;
mod stack;
mod startup;
mod stats;
mod table;
mod tracing;

pub use process::{Process, need};
pub use stats::{median, median_of, percentile};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::Value;

use crate::services;

#[derive(clap::Args)]
pub struct Args {
    /// Only these parts: startup, booking, queries, pipeline, tracing (default: all),
    /// or scale (the costs that must stay flat with history; only when named).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Runs of each measurement; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Seconds each load measurement runs.
    #[arg(long, default_value_t = 7)]
    seconds: u32,
    /// A setting given to every process of the stack the booking and query
    /// parts load (`KEY=VALUE`, repeatable): to measure one against another,
    /// `--stack-env DB_POOL_MODE=transaction-unnamed` say.
    #[arg(long, value_parser = key_value)]
    stack_env: Vec<(String, String)>,
}

fn key_value(arg: &str) -> Result<(String, String), String> {
    let (key, value) = arg.split_once('=').ok_or("expected KEY=VALUE")?;
    Ok((key.to_owned(), value.to_owned()))
}

/// One line of the results: a figure, and its baseline and ratio when it has one.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub figure: String,
    pub value: f64,
    pub unit: &'static str,
    pub baseline: Option<f64>,
    pub ratio: Option<f64>,
}

impl Figure {
    pub fn plain(figure: impl Into<String>, value: f64, unit: &'static str) -> Self {
        Figure { figure: figure.into(), value, unit, baseline: None, ratio: None }
    }

    pub fn against(figure: impl Into<String>, value: f64, unit: &'static str, baseline: f64) -> Self {
        let ratio = if baseline > 0.0 { Some(value / baseline) } else { None };
        Figure { figure: figure.into(), value, unit, baseline: Some(baseline), ratio }
    }
}

/// What every part needs: the release binaries, the bench database, the knobs.
pub struct Bench {
    pub root: PathBuf,
    pub database_url: String,
    /// The key the functions sign and check events with.
    pub signing_key: String,
    pub runs: usize,
    pub seconds: u32,
    /// When the seeded flights leave (flight n, n minutes later), in
    /// seconds since the epoch: a month ahead, the same in every seed, so
    /// pgbench can name a flight's departure as create-booking does.
    pub departs: i64,
}

/// Now and 30 days, in seconds since the epoch: when seeded flights leave.
pub fn a_month_ahead() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    now.as_secs() as i64 + 30 * 24 * 3600
}

impl Bench {
    pub fn binary(&self, name: &str) -> PathBuf {
        self.root.join("target/release").join(name)
    }

    pub fn seed(&self, flights: u32) -> anyhow::Result<()> {
        let status = Command::new("psql")
            .args([
                &self.database_url,
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-v",
                &format!("flights={flights}"),
                "-v",
                &format!("departs={}", self.departs),
                "-f",
            ])
            .arg(self.root.join("bench/seed.sql"))
            .stdout(Stdio::null())
            .status()
            .context("psql")?;
        if !status.success() {
            bail!("seeding the bench database failed");
        }
        Ok(())
    }

    /// Starts a release binary on a free port with the bench's settings; a
    /// `PORT` in `env` is kept (a restart on the same port).
    pub fn start(&self, name: &str, env: &[(&str, &str)]) -> anyhow::Result<Process> {
        let port = match env.iter().find(|(key, _)| *key == "PORT") {
            Some((_, port)) => port.parse().context("PORT")?,
            // Each port once per run: a process started just before may not
            // have bound its own yet.
            None => shared::testing::free_port(),
        };
        let launch = shared::testing::Launch::new(self.binary(name))
            .clean()
            .env("PORT", port.to_string())
            .env("DATABASE_URL", &self.database_url)
            .env("REDIS_URL", redis_url())
            .env("RUST_LOG", "warn")
            .env("AUTH_DISABLED", "true")
            // Events signed and checked, as in production.
            .env("EVENT_SIGNING_KEYS", &self.signing_key)
            .envs(env.iter().copied())
            .output(shared::testing::Output::Stderr);
        Process::start(&launch, port)
    }

    /// wrk against `port` with `bench/wrk.lua` in `mode`.
    pub fn wrk(&self, port: u16, mode: &str, clients: u32, flights: u32) -> anyhow::Result<Value> {
        self.wrk_as(port, mode, clients, flights, None)
    }

    /// wrk as [`Bench::wrk`], every request with `token` as its bearer when given.
    pub fn wrk_as(
        &self,
        port: u16,
        mode: &str,
        clients: u32,
        flights: u32,
        token: Option<&str>,
    ) -> anyhow::Result<Value> {
        let output = Command::new("wrk")
            .args([
                &format!("-t{}", clients.min(2)),
                &format!("-c{clients}"),
                &format!("-d{}s", self.seconds),
                "--latency",
                "-s",
            ])
            .arg(self.root.join("bench/wrk.lua"))
            .arg(format!("http://127.0.0.1:{port}/"))
            .env("MODE", mode)
            .env("FLIGHTS", flights.to_string())
            .env("RUN", uuid_like())
            .env("TOKEN", token.unwrap_or_default())
            .output()
            .context("wrk")?;
        let text = String::from_utf8_lossy(&output.stdout);
        let line =
            text.lines().find_map(|l| l.strip_prefix("WRK_JSON ")).context("wrk printed no summary")?;
        Ok(serde_json::from_str(line)?)
    }
}

/// One value a query on the bench database returns, as text (psql).
pub fn sql_value(bench: &Bench, query: &str) -> anyhow::Result<String> {
    let output = Command::new("psql")
        .args([&bench.database_url, "-tA", "-v", "ON_ERROR_STOP=1", "-c", query])
        .output()?;
    if !output.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A name no other run has had: the time in nanoseconds and the process id.
fn uuid_like() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{nanos:x}{:x}", std::process::id())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let root = services::workspace_root();
    services::ensure()?;
    need("wrk", "apt-get install wrk")?;
    need("pgbench", "apt-get install postgresql-client")?;
    need("redis-benchmark", "apt-get install redis-tools")?;
    let status = crate::services::cargo()
        .args(["build", "--release", "--workspace", "--bins"])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("release build failed");
    }
    let database_url = bench_database_url()?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(services::migrate(&database_url))?;
    let bench = Bench {
        root: root.clone(),
        database_url,
        signing_key: crate::dev::event_signing_key(),
        runs: args.runs.max(1),
        seconds: args.seconds.max(1),
        departs: a_month_ahead(),
    };
    let wanted = |part: &str| args.only.is_empty() || args.only.iter().any(|o| o == part);

    let mut figures = Vec::new();
    if wanted("startup") {
        figures.extend(startup::run(&bench)?);
    }
    if wanted("booking") || wanted("queries") {
        let stack = stack::BenchStack::start(&bench, &args.stack_env)?;
        if wanted("booking") {
            figures.extend(booking::run(&bench, &stack)?);
        }
        if wanted("queries") {
            figures.extend(queries::run(&bench, &stack)?);
        }
    }
    if wanted("pipeline") {
        figures.extend(pipeline::run(&bench)?);
    }
    if wanted("tracing") {
        figures.extend(tracing::run(&bench)?);
    }
    // Only when asked: it seeds a million bookings, minutes of work.
    if args.only.iter().any(|o| o == "scale") {
        figures.extend(scale::run(&bench)?);
    }

    println!("\n{:<58} {:>12} {:<8} {:>12} {:>8}", "figure", "value", "unit", "baseline", "ratio");
    for f in &figures {
        let baseline = f.baseline.map(|b| format!("{b:.2}")).unwrap_or_default();
        let ratio = f.ratio.map(|r| format!("{r:.2}")).unwrap_or_default();
        println!("{:<58} {:>12.2} {:<8} {:>12} {:>8}", f.figure, f.value, f.unit, baseline, ratio);
    }
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let results = serde_json::json!({
        "date": chrono_free_date(),
        "machine": machine(),
        "runs": bench.runs,
        "seconds": bench.seconds,
        "figures": figures,
    });
    std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(&results)?)?;
    if let Some(tables) = table::markdown(&figures) {
        println!("\n{tables}");
        std::fs::write(dir.join("stack.md"), tables)?;
        println!("the stack's tables written to target/bench/stack.md");
    }
    println!("\nwritten to target/bench/results.json in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn chrono_free_date() -> String {
    Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    format!("{cpus} cores, {model}")
}

/// The bench database beside the development one: `<name>_bench`.
pub fn bench_database_url() -> anyhow::Result<String> {
    services::sibling_database_url("bench")
}

/// The Redis database the benchmarks use (0 is the local stack's, 1 to 14 the tests').
pub const BENCH_REDIS_DB: u8 = 15;

pub fn redis_url() -> String {
    let base = crate::services::redis_url();
    format!("{}/{BENCH_REDIS_DB}", base.trim_end_matches('/'))
}

pub fn file_mib(path: &Path) -> f64 {
    std::fs::metadata(path).map(|m| m.len() as f64 / (1024.0 * 1024.0)).unwrap_or(0.0)
}
