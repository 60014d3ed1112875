//! Test support for the slices: a fresh database per test, a function served
//! on a random port over real HTTP, and a TCP proxy a test can cut.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Executor, PgPool};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};

pub use cloudevents;

use crate::config::Settings;
use crate::function::Function;
use crate::server::Server;

/// The server tests create their databases on: `DATABASE_URL` if set.
fn admin_options() -> PgConnectOptions {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into());
    PgConnectOptions::from_str(&url).expect("DATABASE_URL is not a PostgreSQL URL")
}

/// The PgBouncer (transaction mode) the tests reach PostgreSQL through, if any.
pub fn pooler() -> Option<SocketAddr> {
    std::env::var("TEST_POOLER_ADDR").ok().and_then(|addr| addr.parse().ok())
}

/// The pool mode functions run in under the tests: `transaction` behind the pooler.
fn pool_mode() -> &'static str {
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

    /// The URL functions use: through the transaction-mode pooler the test
    /// command runs (`TEST_POOLER_ADDR`), as in a cluster; else PostgreSQL.
    pub fn url(&self) -> String {
        self.url_via(pooler())
    }

    /// PostgreSQL itself, past any pooler.
    pub fn direct_url(&self) -> String {
        self.url_via(None)
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

/// One function served in-process on a random port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub url: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestApp {
    /// Serves `function` against `db` with default settings.
    pub async fn spawn(function: Function, db: &TestDb) -> TestApp {
        Self::spawn_with(function, &[("database_url", &db.url())]).await
    }

    /// Serves `function` with the given settings over the defaults (the
    /// environment is not read; `port` is always 0).
    pub async fn spawn_with(function: Function, overrides: &[(&str, &str)]) -> TestApp {
        let mut all = vec![
            ("port", "0"),
            ("log_format", "pretty"),
            ("auth_disabled", "true"),
            ("db_pool_mode", pool_mode()),
        ];
        all.extend_from_slice(overrides);
        let level = std::env::var("TEST_LOG").unwrap_or_else(|_| "off".into());
        all.push(("rust_log", &level));
        let settings = Settings::with_overrides(&all).expect("test settings");
        crate::telemetry::init(&settings);
        let server = Server::bind(function, settings).await.expect("bind");
        let port = server.local_addr().expect("local addr").port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TestApp { addr, url: format!("http://{addr}"), client: reqwest::Client::new(), stop: Some(stop) }
    }

    /// POST / with a binary-mode CloudEvent from `/tests`.
    pub async fn binary(&self, ty: &str, id: &str, data: &Value) -> TestResponse {
        binary_event(self.post(), ty, "/tests", id, data).send().await.read().await
    }

    /// POST / with a structured-mode CloudEvent.
    pub async fn structured(&self, event: &Value) -> TestResponse {
        self.post()
            .header("content-type", "application/cloudevents+json")
            .body(event.to_string())
            .send()
            .await
            .read()
            .await
    }

    /// POST / with plain JSON, optionally with an Idempotency-Key.
    pub async fn json(&self, data: &Value, idempotency_key: Option<&str>) -> TestResponse {
        let mut request = self.post().header("content-type", "application/json").body(data.to_string());
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.read().await
    }

    /// A POST / to build by hand.
    pub fn post(&self) -> reqwest::RequestBuilder {
        self.client.post(&self.url)
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.client.get(format!("{}{path}", self.url)).send().await.read().await
    }
}

/// Makes `request` a binary-mode CloudEvent: the attributes as `ce-*`
/// headers, the data as the JSON body.
pub fn binary_event(
    request: reqwest::RequestBuilder,
    ty: &str,
    source: &str,
    id: &str,
    data: &Value,
) -> reqwest::RequestBuilder {
    request
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", source)
        .header("ce-type", ty)
        .header("content-type", "application/json")
        .body(data.to_string())
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `error.code` of an error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
    }

    /// Panics with the body unless the status is as expected.
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", String::from_utf8_lossy(&self.body));
        self
    }
}

/// Reads a response whole: `send().await.read().await`.
pub trait ReadResponse {
    fn read(self) -> impl std::future::Future<Output = TestResponse> + Send;
}

impl ReadResponse for reqwest::Result<reqwest::Response> {
    async fn read(self) -> TestResponse {
        let response = self.expect("request failed");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("read body");
        TestResponse { status, headers, body }
    }
}

/// A TCP proxy in front of a service, which a test cuts (refusing and
/// dropping every connection) and restores, leaving the service itself alone.
pub struct TcpProxy {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    cut: Arc<Notify>,
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let open = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(Notify::new());
        let (o, c) = (open.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !o.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let cut = c.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.notified() => {}
                    }
                });
            }
        });
        TcpProxy { addr, open, cut }
    }

    /// Refuses new connections and drops the open ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// The address of the PostgreSQL server the tests use.
pub fn postgres_addr() -> SocketAddr {
    let options = admin_options();
    let host = if options.get_host() == "localhost" { "127.0.0.1" } else { options.get_host() };
    SocketAddr::from_str(&format!("{host}:{}", options.get_port()))
        .expect("PostgreSQL host must be an IP address")
}

/// An event as a [`TestSink`] received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("event data is JSON")
    }

    /// The event as the CloudEvents SDK reads it: proof it is a valid one.
    pub fn cloudevent(&self) -> cloudevents::Event {
        cloudevents::binding::http::to_event(&self.headers, self.body.to_vec()).expect("a valid CloudEvent")
    }
}

/// A real HTTP endpoint standing in for the broker or a subscriber: records
/// what it is sent, answers with the status the test sets (202 unless told;
/// a failing status comes with the body `sink failing`), and can answer
/// with a reply event.
pub struct TestSink {
    pub url: String,
    state: Arc<SinkState>,
}

#[derive(Default)]
struct SinkState {
    received: std::sync::Mutex<Vec<Received>>,
    attempts: std::sync::atomic::AtomicUsize,
    status: std::sync::atomic::AtomicU16,
    reply_type: std::sync::Mutex<Option<String>>,
    delay_ms: std::sync::atomic::AtomicU64,
}

impl TestSink {
    pub async fn start() -> TestSink {
        use http_body_util::BodyExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let url = format!("http://{}/default/default", listener.local_addr().expect("sink addr"));
        let state = Arc::new(SinkState { status: 202.into(), ..Default::default() });
        let shared_state = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared_state.clone();
                let service =
                    hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                        let state = state.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let delay = state.delay_ms.load(Ordering::SeqCst);
                            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                            state.attempts.fetch_add(1, Ordering::SeqCst);
                            let code = state.status.load(Ordering::SeqCst);
                            let ok = (200..300).contains(&code);
                            if ok {
                                state
                                    .received
                                    .lock()
                                    .expect("sink lock")
                                    .push(Received { headers: parts.headers, body });
                            }
                            let reply_type = state.reply_type.lock().expect("sink lock").clone();
                            let mut response = match (ok, reply_type) {
                                (true, Some(ty)) => {
                                    let mut r = http::Response::new(http_body_util::Full::new(
                                        Bytes::from_static(b"{}"),
                                    ));
                                    let h = r.headers_mut();
                                    h.insert("ce-specversion", http::HeaderValue::from_static("1.0"));
                                    h.insert("ce-id", uuid::Uuid::new_v4().to_string().parse().expect("id"));
                                    h.insert("ce-source", http::HeaderValue::from_static("/tests/sink"));
                                    h.insert("ce-type", ty.parse().expect("type"));
                                    h.insert(
                                        "content-type",
                                        http::HeaderValue::from_static("application/json"),
                                    );
                                    r
                                }
                                (true, None) => http::Response::new(http_body_util::Full::new(Bytes::new())),
                                (false, _) => http::Response::new(http_body_util::Full::new(
                                    Bytes::from_static(b"sink failing"),
                                )),
                            };
                            *response.status_mut() = http::StatusCode::from_u16(code).expect("status");
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        TestSink { url, state }
    }

    /// What it has accepted so far (events answered with a 2xx).
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("sink lock").clone()
    }

    /// Waits (10 s at most) until it has accepted `count` events, and
    /// returns them: functions publish after they reply, in the background.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let received = self.received();
            if received.len() >= count || std::time::Instant::now() > deadline {
                return received;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Requests it has had, whatever it answered.
    pub fn attempts(&self) -> usize {
        self.state.attempts.load(Ordering::SeqCst)
    }

    /// Takes this long over each request from now on, as a slow broker does.
    pub fn delay(&self, delay: std::time::Duration) {
        self.state.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// The status to answer from now on; a non-2xx one records nothing.
    pub fn answer(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// Answers every accepted event with a reply event of this type.
    pub fn reply_with(&self, ty: &str) {
        *self.state.reply_type.lock().expect("sink lock") = Some(ty.to_owned());
    }
}

/// A URL where nothing listens: a sink that is down.
pub async fn closed_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}/default/default")
}

/// A Redis database of its own for one test: one of the numbered databases
/// 1 to 14 of the server at `REDIS_URL` (0 is the local stack's, 15 the benchmarks'),
/// flushed when taken and handed back when dropped.
pub struct TestRedis {
    pub url: String,
    index: u8,
}

static REDIS_DBS: std::sync::Mutex<Vec<bool>> = std::sync::Mutex::new(Vec::new());
static REDIS_FREED: Notify = Notify::const_new();

impl TestRedis {
    pub async fn new() -> TestRedis {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        // The server part only: scheme, credentials, host and port, no database.
        let (scheme, rest) = url.split_once("://").unwrap_or(("redis", url.as_str()));
        let base = format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest));
        let index = loop {
            let freed = REDIS_FREED.notified();
            {
                let mut taken = REDIS_DBS.lock().expect("redis dbs");
                if taken.is_empty() {
                    *taken = vec![false; 16];
                    taken[0] = true;
                    taken[15] = true;
                }
                if let Some(i) = taken.iter().position(|t| !t) {
                    taken[i] = true;
                    break i as u8;
                }
            }
            freed.await;
        };
        let url = format!("{base}/{index}");
        let client = redis::Client::open(url.as_str()).expect("REDIS_URL");
        let mut conn = client.get_multiplexed_async_connection().await.expect("connect to Redis");
        redis::cmd("FLUSHDB").query_async::<()>(&mut conn).await.expect("FLUSHDB");
        TestRedis { url, index }
    }

    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect")
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        if let Ok(mut taken) = REDIS_DBS.lock() {
            taken[self.index as usize] = false;
        }
        REDIS_FREED.notify_waiters();
    }
}

/// The address of the Redis server the tests use.
pub fn redis_addr() -> SocketAddr {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let host = url.trim_start_matches("redis://").split('/').next().unwrap_or("127.0.0.1:6379");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.replace("localhost", "127.0.0.1");
    SocketAddr::from_str(&host).expect("Redis host must be an IP address and port")
}

/// A binary of this workspace, as `cargo build` left it in the target directory.
pub fn binary(name: &str) -> std::path::PathBuf {
    // Test executables live in target/<profile>/deps; binaries one level up.
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: `cargo build --workspace --bins` (cargo xtask test does)",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1 (free when asked; a process may take it after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A binary run as a process of its own, on a port of its own: started,
/// killed (SIGKILL, as a crash) and started again by the test.
pub struct TestProcess {
    pub port: u16,
    pub url: String,
    program: std::path::PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: Option<std::path::PathBuf>,
    child: Option<std::process::Child>,
}

impl TestProcess {
    /// Starts `program` with `PORT` set, and waits until it accepts connections.
    pub async fn start(program: std::path::PathBuf, args: &[&str], env: &[(&str, &str)]) -> TestProcess {
        let port = free_port();
        let mut process = TestProcess {
            port,
            url: format!("http://127.0.0.1:{port}"),
            program,
            args: args.iter().map(|a| a.to_string()).collect(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            log: None,
            child: None,
        };
        process.restart().await;
        process
    }

    /// Like [`TestProcess::start`], with everything the process logs
    /// (stdout and stderr) appended to `log`.
    pub async fn start_logged(
        program: std::path::PathBuf,
        env: &[(&str, &str)],
        log: std::path::PathBuf,
    ) -> TestProcess {
        let port = free_port();
        let mut process = TestProcess {
            port,
            url: format!("http://127.0.0.1:{port}"),
            program,
            args: Vec::new(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            log: Some(log),
            child: None,
        };
        process.restart().await;
        process
    }

    /// SIGTERM, as Knative stops a pod, and waits for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("the process is running");
        let pid = child.id().to_string();
        let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        child.wait().expect("wait for the process")
    }

    /// Kills the process at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        let log = std::env::var("TEST_LOG").is_ok();
        let mut command = std::process::Command::new(&self.program);
        command
            .args(&self.args)
            .env("PORT", self.port.to_string())
            .env("RUST_LOG", std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into()))
            .env("LOG_FORMAT", "pretty")
            // Tests that check keys set them; the rest run as the local stack does.
            .env("AUTH_DISABLED", "true")
            .env("DB_POOL_MODE", pool_mode())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(if log { std::process::Stdio::inherit() } else { std::process::Stdio::null() });
        if let Some(path) = &self.log {
            let file = || std::fs::OpenOptions::new().create(true).append(true).open(path).expect("log file");
            command.stdout(file()).stderr(file());
        }
        self.child =
            Some(command.spawn().unwrap_or_else(|e| panic!("start {}: {e}", self.program.display())));
        let started = std::time::Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{} did not start",
                self.program.display()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
