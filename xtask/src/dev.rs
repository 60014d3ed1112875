//! The local stack: every function binary on its own port (reaching
//! PostgreSQL through PgBouncer, as in a cluster), the local broker routing
//! events between them as the `knative/` manifests say, their URLs in
//! `target/devstack/urls.json`, all stopped on Ctrl-C.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::{catalog, services};

#[derive(clap::Args)]
pub struct Args {
    /// First port to try; each function takes the next free one.
    #[arg(long, default_value_t = 8081)]
    base_port: u16,
    /// Build and run release binaries.
    #[arg(long)]
    release: bool,
    /// Start everything, check each function is ready, then stop (a smoke test).
    #[arg(long)]
    check: bool,
}

/// Where the stack keeps its data, and what it prints.
pub struct Options {
    pub base_port: u16,
    pub release: bool,
    pub database_url: String,
    pub redis_url: Option<String>,
    /// The functions' own logs; off, they go nowhere.
    pub logs: bool,
}

/// A running stack; dropping it stops every process (SIGTERM, so each drains).
pub struct Stack {
    pub urls: BTreeMap<String, String>,
    children: Vec<(String, Child)>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            stop(child);
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let options = Options {
        base_port: args.base_port,
        release: args.release,
        database_url: services::database_url(),
        redis_url: None,
        logs: true,
    };
    let stack = start(&options)?;
    println!("\n{:<22} URL", "FUNCTION");
    for (name, url) in &stack.urls {
        println!("{name:<22} {url}");
    }
    println!("\nwritten to target/devstack/urls.json");
    if args.check {
        println!("every function is ready; stopping (--check)");
        return Ok(());
    }
    println!("Ctrl-C stops everything.");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async { tokio::signal::ctrl_c().await })?;
    Ok(())
}

/// Makes sure the services answer, migrates, builds and starts everything,
/// writes `target/devstack/urls.json` and waits until every process serves.
pub fn start(options: &Options) -> anyhow::Result<Stack> {
    let root = services::workspace_root();
    services::ensure()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(services::migrate(&options.database_url))?;

    // The one list of functions, each checked to have its binary.
    let functions = catalog::checked(&root)?;
    let mut build = Command::new(env!("CARGO"));
    build.arg("build").arg("--bins").current_dir(&root);
    if options.release {
        build.arg("--release");
    }
    let slices: std::collections::BTreeSet<String> =
        catalog::binaries(&root)?.into_iter().map(|(slice, _)| slice).collect();
    for slice in &slices {
        build.args(["--package", slice]);
    }
    build.args(["--package", "broker"]);
    if !build.status().context("cargo build")?.success() {
        anyhow::bail!("the build failed");
    }
    let bin_dir = root.join("target").join(if options.release { "release" } else { "debug" });

    // Every port first: the broker needs the functions' URLs, the functions the broker's.
    let mut urls = BTreeMap::new();
    let mut port = options.base_port;
    for function in &functions {
        port = free_port_from(port)?;
        urls.insert(function.name.clone(), format!("http://127.0.0.1:{port}"));
        port += 1;
    }
    let broker_port = free_port_from(port)?;
    let broker = format!("http://127.0.0.1:{broker_port}/skybook/default");

    // A developer's machine: open unless keys are given, and said so.
    let auth = std::env::var("AUTH_API_KEYS").is_ok_and(|keys| !keys.trim().is_empty());
    if !auth {
        println!(
            "dev: AUTH_DISABLED=true: no function asks for an API key (set AUTH_API_KEYS to require them)"
        );
    }
    let output = || if options.logs { Stdio::inherit() } else { Stdio::null() };
    let mut stack = Stack { urls: BTreeMap::new(), children: Vec::new() };
    let mut command = Command::new(bin_dir.join("skybook-broker"));
    command.arg("--manifests").arg(root.join("knative")).env("PORT", broker_port.to_string());
    for (name, url) in &urls {
        command.arg("--service").arg(format!("{name}={url}"));
    }
    command.stdout(output()).stderr(output());
    stack.children.push(("skybook-broker".into(), command.spawn().context("starting the broker")?));
    for function in &functions {
        let (name, url) = (&function.name, &urls[&function.name]);
        let port = url.rsplit(':').next().unwrap_or_default();
        let mut command = Command::new(bin_dir.join(name));
        // Through PgBouncer in transaction mode, as in a cluster.
        command
            .env("PORT", port)
            .env("DATABASE_URL", services::via_pooler(&options.database_url))
            .env("DB_POOL_MODE", "transaction")
            .stdout(output())
            .stderr(output());
        if let Some(redis) = &options.redis_url {
            command.env("REDIS_URL", redis);
        }
        // As the SinkBinding does: only the functions that emit get the Broker.
        if function.emits_events {
            command.env("K_SINK", &broker);
        }
        if std::env::var_os("LOG_FORMAT").is_none() {
            command.env("LOG_FORMAT", "pretty");
        }
        if !auth {
            command.env("AUTH_DISABLED", "true");
        }
        let child = command.spawn().with_context(|| format!("starting {name}"))?;
        stack.children.push((name.clone(), child));
    }

    let dir: PathBuf = root.join("target/devstack");
    std::fs::create_dir_all(&dir)?;
    let json = serde_json::json!({ "functions": urls, "broker": broker });
    std::fs::write(dir.join("urls.json"), serde_json::to_string_pretty(&json)?)?;
    urls.insert("skybook-broker".into(), broker);
    wait_ready(&urls, Duration::from_secs(20))?;
    stack.urls = urls;
    Ok(stack)
}

/// Polls each process's readiness until all answer 200.
fn wait_ready(urls: &BTreeMap<String, String>, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    for (name, url) in urls {
        let addr = url.trim_start_matches("http://").split('/').next().unwrap_or_default();
        loop {
            if http_status(addr, "/health/readiness") == Some(200) {
                break;
            }
            if started.elapsed() > limit {
                anyhow::bail!("{name} at {url} is not ready after {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// A GET over a plain socket: the xtask needs no HTTP client for this.
fn http_status(addr: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn free_port_from(start: u16) -> anyhow::Result<u16> {
    (start..u16::MAX).find(|port| TcpListener::bind(("0.0.0.0", *port)).is_ok()).context("no free port")
}

/// SIGTERM, so each function drains; then wait for it.
fn stop(child: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The smoke script (`scripts/smoke.py`, the one the kind job runs against
/// a cluster) against a local stack of its own: a fresh database and Redis
/// database, so what it reads back is only what it wrote.
pub fn smoke(root: &Path) -> anyhow::Result<()> {
    let database_url = {
        let base = services::database_url();
        let (server, _) = base.rsplit_once('/').context("DATABASE_URL has no database")?;
        format!("{server}/skybook_smoke")
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(services::recreate_database(&database_url))?;
    let redis_url = services::fresh_redis_db(15)?;
    let options =
        Options { base_port: 18081, release: false, database_url, redis_url: Some(redis_url), logs: false };
    let stack = start(&options)?;
    let status = Command::new("python3")
        .arg(root.join("scripts/smoke.py"))
        .arg(root.join("target/devstack/urls.json"))
        .status()
        .context("python3 scripts/smoke.py")?;
    drop(stack);
    if !status.success() {
        anyhow::bail!("the smoke script failed against the local stack");
    }
    Ok(())
}
