//! The local stack: every function binary on its own port, the local broker
//! routing events between them as the `knative/` manifests say, their URLs in
//! `target/devstack/urls.json`, all stopped on Ctrl-C.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::services;

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

/// Every function binary: `functions/<slice>/src/bin/<function>.rs`.
pub fn functions(root: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    for slice in std::fs::read_dir(root.join("functions"))? {
        let slice = slice?.path();
        let Some(slice_name) = slice.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let bins = slice.join("src/bin");
        if !bins.is_dir() {
            continue;
        }
        for bin in std::fs::read_dir(bins)? {
            let bin = bin?.path();
            if let Some(name) = bin.file_stem().and_then(|n| n.to_str()) {
                found.push((slice_name.clone(), name.to_owned()));
            }
        }
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let root = services::workspace_root();
    services::ensure()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(services::migrate(&services::database_url()))?;

    let functions = functions(&root)?;
    let mut build = Command::new(env!("CARGO"));
    build.arg("build").arg("--bins").current_dir(&root);
    if args.release {
        build.arg("--release");
    }
    for slice in functions.iter().map(|(slice, _)| slice).collect::<std::collections::BTreeSet<_>>() {
        build.args(["--package", slice]);
    }
    build.args(["--package", "broker"]);
    if !build.status().context("cargo build")?.success() {
        anyhow::bail!("the build failed");
    }
    let bin_dir = root.join("target").join(if args.release { "release" } else { "debug" });

    // Every port first: the broker needs the functions' URLs, the functions the broker's.
    let mut urls = BTreeMap::new();
    let mut port = args.base_port;
    for (_, name) in &functions {
        port = free_port_from(port)?;
        urls.insert(name.clone(), format!("http://127.0.0.1:{port}"));
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
    let mut children: Vec<(String, Child)> = Vec::new();
    let mut command = Command::new(bin_dir.join("skybook-broker"));
    command.arg("--manifests").arg(root.join("knative")).env("PORT", broker_port.to_string());
    for (name, url) in &urls {
        command.arg("--service").arg(format!("{name}={url}"));
    }
    children.push(("skybook-broker".into(), command.spawn().context("starting the broker")?));
    for (name, url) in &urls {
        let port = url.rsplit(':').next().unwrap_or_default();
        let mut command = Command::new(bin_dir.join(name));
        // Through PgBouncer in transaction mode, as in a cluster.
        command
            .env("PORT", port)
            .env("K_SINK", &broker)
            .env("DATABASE_URL", services::via_pooler(&services::database_url()))
            .env("DB_POOL_MODE", "transaction");
        if std::env::var_os("LOG_FORMAT").is_none() {
            command.env("LOG_FORMAT", "pretty");
        }
        if !auth {
            command.env("AUTH_DISABLED", "true");
        }
        let child = command.spawn().with_context(|| format!("starting {name}"))?;
        children.push((name.clone(), child));
    }
    urls.insert("skybook-broker".into(), broker.clone());

    let result = announce_and_wait(&root, &urls, args.check);
    for (_, child) in &mut children {
        stop(child);
    }
    result
}

fn announce_and_wait(root: &Path, urls: &BTreeMap<String, String>, check: bool) -> anyhow::Result<()> {
    let dir: PathBuf = root.join("target/devstack");
    std::fs::create_dir_all(&dir)?;
    let mut functions = urls.clone();
    let broker = functions.remove("skybook-broker").unwrap_or_default();
    let json = serde_json::json!({ "functions": functions, "broker": broker });
    std::fs::write(dir.join("urls.json"), serde_json::to_string_pretty(&json)?)?;

    wait_ready(urls, Duration::from_secs(20))?;
    println!("\n{:<22} URL", "FUNCTION");
    for (name, url) in urls {
        println!("{name:<22} {url}");
    }
    println!("\nwritten to target/devstack/urls.json");
    if check {
        println!("every function is ready; stopping (--check)");
        return Ok(());
    }
    println!("Ctrl-C stops everything.");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async { tokio::signal::ctrl_c().await })?;
    Ok(())
}

/// Polls each function's readiness (which checks its database) until all answer 200.
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
