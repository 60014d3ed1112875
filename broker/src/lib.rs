//! A local broker that keeps the Knative Broker's contract on a real RabbitMQ:
//! ingress at `POST /{namespace}/{broker}`, a durable queue per Trigger with
//! its filter, delivery with retries, backoff and a dead-letter sink, and
//! reply events routed back in. Its routing is read from the `knative/`
//! manifests that deploy to the cluster.

pub mod dispatch;
pub mod event;
pub mod filter;
pub mod ingress;
pub mod manifest;
pub mod ping;
pub mod rabbit;
pub mod trace;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

/// Everything the broker needs to run.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "skybook-broker", about = "A local Knative-compatible broker on RabbitMQ")]
pub struct Config {
    /// Where the Broker, Trigger and PingSource manifests are.
    #[arg(long, env = "BROKER_MANIFESTS", default_value = "knative")]
    pub manifests: PathBuf,
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    #[arg(long, env = "AMQP_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    pub amqp_url: String,
    /// The URL of a Service a manifest names: `--service record-booking-stats=http://127.0.0.1:8091`.
    #[arg(long = "service", value_parser = parse_service)]
    pub services: Vec<(String, String)>,
    /// Events each Trigger delivers at once at most.
    #[arg(long, env = "BROKER_INFLIGHT", default_value_t = 32)]
    pub inflight: u16,
    /// Timeout of one delivery to a subscriber.
    #[arg(long, env = "BROKER_DELIVERY_TIMEOUT_MS", default_value_t = 10_000)]
    pub delivery_timeout_ms: u64,
    /// How long a client may take to send an event once its headers are in
    /// (408 past it), as the functions allow.
    #[arg(long, env = "BODY_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_timeout_ms: u64,
    /// Ticks PingSources this often instead of by their schedule (seconds).
    #[arg(long, env = "BROKER_PING_EVERY_SECS")]
    pub ping_every_secs: Option<u64>,
}

fn parse_service(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(name, url)| (name.trim().to_owned(), url.trim().to_owned()))
        .filter(|(name, url)| !name.is_empty() && url.starts_with("http"))
        .ok_or_else(|| format!("expected NAME=http://HOST:PORT, got {raw}"))
}

/// The broker's own families, shown from the first scrape.
const METRICS: &[&dyn shared::metrics::Registered] =
    &[&ingress::INGRESS, &dispatch::DELIVERIES, &dispatch::DEPTH];

/// A running broker: its address, and the handle that stops it.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.done.await;
    }
}

/// Reads the manifests, declares the topology, and starts the ingress, one
/// dispatcher per Trigger and the PingSource tickers.
pub async fn start(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    for family in METRICS {
        family.register();
    }
    let routing = manifest::Routing::load(&config.manifests)
        .with_context(|| format!("reading manifests in {}", config.manifests.display()))?;
    let services: BTreeMap<String, String> = config.services.iter().cloned().collect();
    let triggers = routing.resolve(&services)?;
    let queues = triggers.iter().map(|t| (t.name.clone(), t.filter.binding())).collect();
    let rabbit = Arc::new(rabbit::Rabbit::new(config.amqp_url.clone(), routing.broker.clone(), queues));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(config.delivery_timeout_ms))
        .build()
        .context("HTTP client")?;

    let listener =
        tokio::net::TcpListener::bind(("0.0.0.0", config.port)).await.context("binding the ingress")?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (halt_tx, halt_rx) = tokio::sync::watch::channel(false);

    let mut tasks = Vec::new();
    for trigger in triggers {
        tracing::info!(trigger = %trigger.name, subscriber = %trigger.subscriber, filter = ?trigger.filter, "trigger");
        let dispatcher = dispatch::Dispatcher::new(trigger, rabbit.clone(), http.clone(), config.inflight);
        tasks.push(tokio::spawn(dispatcher.run(halt_rx.clone())));
    }
    for source in &routing.ping_sources {
        let Some(url) = services.get(&source.sink) else {
            tracing::warn!(pingsource = %source.name, sink = %source.sink, "no URL for the sink; not ticking");
            continue;
        };
        let every = config.ping_every_secs.map(Duration::from_secs).unwrap_or(source.every);
        tasks.push(tokio::spawn(ping::tick(
            source.clone(),
            url.clone(),
            every,
            http.clone(),
            halt_rx.clone(),
        )));
    }

    let body_timeout = Duration::from_millis(config.body_timeout_ms);
    let ingress = ingress::Ingress::new(routing.broker.clone(), rabbit.clone(), body_timeout);
    let done = tokio::spawn(async move {
        let stopped = async move {
            tokio::select! {
                _ = stop_rx => {},
                () = shutdown => {},
            }
        };
        let handler = move |request| {
            let ingress = ingress.clone();
            async move { ingress.handle(request).await }
        };
        tracing::info!(%addr, "broker ingress listening");
        shared::http::serve_http(listener, handler, stopped, Duration::from_secs(10)).await;
        let _ = halt_tx.send(true);
        for task in tasks {
            let _ = task.await;
        }
        rabbit.close().await;
    });
    Ok(Running { addr, stop: Some(stop_tx), done })
}

/// The binary's whole life: parse the arguments, run until SIGTERM or Ctrl-C.
pub fn main() -> std::process::ExitCode {
    use clap::Parser;
    let config = Config::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("skybook-broker: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    // Inside the runtime: the trace exporter sends on its threads.
    runtime.block_on(async {
        shared::telemetry::init("skybook-broker", &filter, shared::config::LogFormat::Pretty)
    });
    let result = runtime.block_on(async {
        let running = start(config, shared::http::shutdown_signal()).await?;
        running.done.await.context("broker task")
    });
    // The last deliveries' spans leave before the process does.
    shared::telemetry::shutdown(Duration::from_secs(5));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("skybook-broker: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
