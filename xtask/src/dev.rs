//! The local stack: every function binary on its own port (reaching
//! PostgreSQL through PgBouncer, as in a cluster), the local broker routing
//! events between them as the `knative/` manifests say, their URLs in
//! `target/devstack/urls.json`; a process that exits is restarted, as a
//! kubelet would; all stopped on Ctrl-C.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use shared::testing::{Launch, Output};

use crate::supervise::{Recipe, Supervisor};
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
    /// Settings given to every process, broker included (a drill's faster ticks).
    pub env: Vec<(String, String)>,
    /// Who may call: real identities from the development issuer, or none
    /// (the drills, which measure the flow rather than who starts it).
    pub identities: Identities,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identities {
    /// The development issuer runs, and the functions require its tokens
    /// as they would a production provider's.
    Issuer,
    /// `AUTH_DISABLED=true`: every caller is taken for every role.
    Disabled,
}

/// A running stack, its processes supervised; dropping it stops every one
/// (SIGTERM, so each drains).
pub struct Stack {
    pub urls: BTreeMap<String, String>,
    pub processes: Supervisor,
    /// The development issuer's URL, when it runs.
    pub issuer: Option<String>,
    /// The key every event of this run is signed with.
    pub signing_key: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let options = Options {
        base_port: args.base_port,
        release: args.release,
        database_url: services::database_url(),
        redis_url: None,
        logs: true,
        env: Vec::new(),
        identities: Identities::Issuer,
    };
    let stack = start(&options)?;
    println!("\n{:<22} URL", "FUNCTION");
    for (name, url) in &stack.urls {
        println!("{name:<22} {url}");
    }
    println!("\nwritten to target/devstack/urls.json");
    if let Some(issuer) = &stack.issuer {
        println!(
            "\nSign in with tokens of the development issuer ({issuer}):\n  \
             TOKEN=$(cargo xtask token --sub ana --role passenger)\n  \
             curl -H \"Authorization: Bearer $TOKEN\" …"
        );
    }
    if args.check {
        println!("every function is ready; stopping (--check)");
        return Ok(());
    }
    println!("Ctrl-C stops everything.");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(stopped())?;
    Ok(())
}

/// Ctrl-C at the terminal, or SIGTERM from `kill`, a supervisor or a CI
/// step: either way the stack is dropped, so every process drains and stops
/// rather than outlive the command that started it.
async fn stopped() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted,
        _ = terminate.recv() => Ok(()),
        _ = hangup.recv() => Ok(()),
    }
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
    // The whole workspace, as the test command and the benchmark build it:
    // a subset of packages would unify the crates' features otherwise and
    // build everything again.
    let mut build = crate::services::cargo();
    build.args(["build", "--workspace", "--bins"]).current_dir(&root);
    if options.release {
        build.arg("--release");
    }
    if !build.status().context("cargo build")?.success() {
        anyhow::bail!("the build failed");
    }
    let bin_dir = root.join("target").join(if options.release { "release" } else { "debug" });

    // Every port first: the broker needs the functions' URLs, the functions the broker's.
    let mut urls = BTreeMap::new();
    let mut port = options.base_port;
    for function in &functions {
        port = free_port_from(port)?;
        urls.insert(function.name().to_owned(), format!("http://127.0.0.1:{port}"));
        port += 1;
    }
    let broker_port = free_port_from(port)?;
    let broker = format!("http://127.0.0.1:{broker_port}/skybook/default");

    let issuer = match options.identities {
        Identities::Issuer => Some(crate::issuer::serve(&root, free_port_from(broker_port + 1)?)?),
        Identities::Disabled => {
            println!("dev: AUTH_DISABLED=true: every caller is taken for every role");
            None
        }
    };
    // One key for this run: every event is signed when it is sent, so a
    // new key on the next run leaves nothing behind that it cannot verify.
    let signing_key = event_signing_key();
    let stack = Stack {
        urls: BTreeMap::new(),
        processes: Supervisor::new(),
        issuer: issuer.clone(),
        signing_key: signing_key.clone(),
    };
    let services =
        shared::config::de::join_urls_by_name(urls.iter().map(|(name, url)| (name.as_str(), url.as_str())));
    let broker_env = [
        ("PORT".to_owned(), broker_port.to_string()),
        ("BROKER_MANIFESTS".to_owned(), root.join("knative").display().to_string()),
        ("BROKER_SERVICES".to_owned(), services),
    ];
    let output = if options.logs { Output::Inherit } else { Output::Null };
    stack.processes.start(Recipe {
        name: "skybook-broker".into(),
        launch: Launch::new(bin_dir.join("skybook-broker"))
            .envs(broker_env)
            .envs(options.env.iter().cloned())
            .output(output.clone()),
    })?;
    // The sites' pages call the other functions from the browser: their
    // origins are allowed, and each site is told where every function is.
    let is_site = |f: &catalog::Function| f.function.kind == shared::Kind::Site;
    let site_origins: Vec<&str> =
        functions.iter().filter(|f| is_site(f)).map(|f| urls[f.name()].as_str()).collect();
    let function_urls = shared::config::de::join_urls_by_name(
        functions.iter().filter(|f| f.external() && !is_site(f)).map(|f| (f.name(), urls[f.name()].as_str())),
    );
    for function in &functions {
        let (name, url) = (function.name(), &urls[function.name()]);
        let port = url.rsplit(':').next().unwrap_or_default();
        // Through PgBouncer in transaction mode, as in a cluster. One process
        // of each function here takes what ten replicas of 5 connections
        // take there: it may hold as many as the local pooler has server
        // connections for the database, where statements queue anyway.
        let mut env = vec![
            ("PORT".to_owned(), port.to_owned()),
            ("DATABASE_URL".to_owned(), services::via_pooler(&options.database_url)),
            ("DB_POOL_MODE".to_owned(), "transaction".to_owned()),
            ("DB_POOL_SIZE".to_owned(), services::POOLER_SERVER_CONNECTIONS.to_string()),
        ];
        if let Some(redis) = &options.redis_url {
            env.push(("REDIS_URL".into(), redis.clone()));
        }
        // As the SinkBinding does: only the functions that emit get the Broker.
        if function.emits_events() {
            env.push(("K_SINK".into(), broker.clone()));
        }
        if std::env::var_os("LOG_FORMAT").is_none() {
            env.push(("LOG_FORMAT".into(), "pretty".into()));
        }
        env.push(("EVENT_SIGNING_KEYS".into(), signing_key.clone()));
        if is_site(function) {
            env.push(("FUNCTION_URLS".into(), function_urls.clone()));
        } else if function.external() {
            env.push(("CORS_ALLOWED_ORIGINS".into(), site_origins.join(",")));
        }
        match &issuer {
            Some(issuer) => env.push(("AUTH_ISSUER".into(), issuer.clone())),
            None => env.push(("AUTH_DISABLED".into(), "true".into())),
        }
        env.extend(options.env.iter().cloned());
        stack.processes.start(Recipe {
            name: name.to_owned(),
            launch: Launch::new(bin_dir.join(name)).envs(env).output(output.clone()),
        })?;
    }

    let dir: PathBuf = root.join("target/devstack");
    std::fs::create_dir_all(&dir)?;
    let json = serde_json::json!({ "functions": urls, "broker": broker, "issuer": issuer });
    std::fs::write(dir.join("urls.json"), serde_json::to_string_pretty(&json)?)?;
    urls.insert("skybook-broker".into(), broker);
    wait_ready(&urls, Duration::from_secs(20))?;
    Ok(Stack { urls, ..stack })
}

/// A dead letter, as the Broker hands one over after its retries: an event
/// this stack signed, which a subscriber kept refusing.
fn dead_letter(stack: &Stack) -> anyhow::Result<()> {
    let undelivered = [("ce-knativeerrordest", "http://127.0.0.1:9/"), ("ce-knativeerrorcode", "503")];
    let data = r#"{"smoke":true}"#;
    stack.send_signed("store-dead-letter", "skybook.smoke.undeliverable", "/smoke", data, &undelivered)
}

impl Stack {
    /// A binary-mode event to `function`, signed with this run's key as the
    /// broker signs what it delivers, with `extra` headers; it must answer 202.
    pub fn send_signed(
        &self,
        function: &str,
        ty: &str,
        source: &str,
        data: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        use shared::cloudevent::signature::Signed;
        let keys = event_keys(&self.signing_key)?;
        let id = uuid::Uuid::now_v7().to_string();
        let signed = Signed { id: &id, source, ty, subject: None, sequence: None, data: data.as_bytes() };
        let signature = keys.sign(signed);
        let mut headers = vec![
            ("ce-specversion", "1.0"),
            ("ce-id", id.as_str()),
            ("ce-source", source),
            ("ce-type", ty),
            ("ce-skybooksig", signature.as_str()),
            ("content-type", "application/json"),
        ];
        headers.extend_from_slice(extra);
        let url = self.urls.get(function).with_context(|| format!("no {function} in the stack"))?;
        let (head, body) = crate::observability::request(url, "POST", &headers, data)?;
        anyhow::ensure!(
            head.starts_with("HTTP/1.1 202"),
            "{function}: {}: {body}",
            head.lines().next().unwrap_or_default()
        );
        Ok(())
    }
}

/// A fresh 256-bit key, as 64 hex digits.
pub fn event_signing_key() -> String {
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    format!("{}{}", a.simple(), b.simple())
}

/// The signing keys `key` (an `EVENT_SIGNING_KEYS` value) makes, as the
/// functions given it read them: what signs the events the tools send.
pub fn event_keys(key: &str) -> anyhow::Result<shared::cloudevent::signature::EventKeys> {
    let settings = shared::config::Settings::with_overrides(&[("event_signing_keys", key)])
        .map_err(anyhow::Error::msg)?;
    shared::cloudevent::signature::EventKeys::from_settings(&settings)
        .map_err(anyhow::Error::msg)?
        .context("a signing key")
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
    shared::testing::free_port_from(start).context("no free port")
}

/// The smoke script (`scripts/smoke.py`, the one the kind job runs against
/// a cluster) against a local stack of its own: a fresh database and Redis
/// database, so what it reads back is only what it wrote. Then the stats
/// function is killed, and the script runs again: the stack restarts it.
pub fn smoke(root: &Path) -> anyhow::Result<()> {
    let database_url = services::sibling_database_url("smoke")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(services::drop_database(&database_url))?;
    let redis_url = services::fresh_redis_db(15)?;
    // The AI functions talk to a stand-in that speaks Groq's protocol.
    let model = crate::model::serve()?;
    let options = Options {
        base_port: 18081,
        release: false,
        database_url,
        redis_url: Some(redis_url),
        logs: false,
        env: vec![("GROQ_API_KEY".into(), "stand-in-key".into()), ("GROQ_BASE_URL".into(), model)],
        identities: Identities::Issuer,
    };
    let stack = start(&options)?;
    let issuer = stack.issuer.clone().context("the smoke stack runs the issuer")?;
    // Real tokens: an admin writes the catalogue, an agent books.
    let admin = crate::issuer::mint(root, &issuer, "smoke-admin", &["admin"], 3600)?;
    let agent = crate::issuer::mint(root, &issuer, "smoke-agent", &["agent"], 3600)?;
    let calls = root.join("target/devstack/smoke-calls.json");
    let smoke = || -> anyhow::Result<()> {
        let status = Command::new("python3")
            .arg(root.join("scripts/smoke.py"))
            .arg(root.join("target/devstack/urls.json"))
            .arg("--record")
            .arg(&calls)
            .args(["--key", &format!("admin={admin}"), "--key", &format!("agent={agent}")])
            .status()
            .context("python3 scripts/smoke.py")?;
        if !status.success() {
            anyhow::bail!("the smoke script failed against the local stack");
        }
        Ok(())
    };
    smoke()?;
    // The smoke test's real requests and replies against the published schemas.
    crate::contracts::check(root, &stack.urls, &calls)?;
    crate::api_docs::check_traffic(root, &calls)?;
    // The pages, in a real browser; an operator's replays a dead letter.
    dead_letter(&stack)?;
    crate::browser::check(root)?;
    // After real traffic, the metrics as Prometheus reads them.
    crate::observability::check(root, &stack.urls)?;
    // The stats function crashes: the stack restarts it, as a kubelet would,
    // and the broker's retries carry the next booking's event to it.
    let pid = stack.processes.pid("record-booking-stats").context("record-booking-stats is not running")?;
    Command::new("kill").args(["-KILL", &pid.to_string()]).status()?;
    println!("dev: killed record-booking-stats ({pid}); the smoke test again");
    smoke()?;
    let restarted = stack.processes.pid("record-booking-stats");
    anyhow::ensure!(restarted.is_some_and(|p| p != pid), "record-booking-stats was not restarted");
    Ok(())
}
