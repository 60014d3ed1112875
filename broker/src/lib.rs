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

shared::settings! {
    /// Everything the broker needs to run, read as the functions read theirs
    /// (defaults, `SKYBOOK_CONFIG`, the environment).
    pub struct Config {
        /// Where the Broker, Trigger and PingSource manifests are.
        broker_manifests: PathBuf = "knative",
        port: u16 = "8080",
        amqp_url: String = "amqp://guest:guest@127.0.0.1:5672/%2f",
        /// The URL of each Service a manifest names, comma-separated:
        /// `record-booking-stats=http://127.0.0.1:8091,...`.
        #[serde(deserialize_with = "shared::config::de::urls_by_name")]
        broker_services: BTreeMap<String, String> = "",
        /// Events each Trigger delivers at once at most.
        broker_inflight: u16 = "32",
        /// Timeout of one delivery to a subscriber.
        broker_delivery_timeout_ms: u64 = "10000",
        /// How long a client may take to send an event once its headers are
        /// in (408 past it), as the functions allow.
        body_timeout_ms: u64 = "10000",
        /// Ticks PingSources this often instead of by their schedule (seconds).
        #[serde(deserialize_with = "optional_secs")]
        broker_ping_every_secs: Option<u64> = "",
        rust_log: String = "info",
        log_format: shared::config::LogFormat = "pretty",
    }
}

/// The broker's own families, shown from the first scrape.
const METRICS: &[&dyn shared::metrics::Registered] =
    &[&ingress::INGRESS, &dispatch::DELIVERIES, &dispatch::DEPTH];

impl Config {
    /// The settings with these values over the defaults, the environment ignored: for tests.
    pub fn with_overrides(overrides: &[(&str, &str)]) -> Result<Self, String> {
        shared::config::Source::overrides(overrides).load()
    }
}

/// A whole number of seconds, or empty for none.
fn optional_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let raw = <String as serde::Deserialize>::deserialize(d)?;
    match raw.trim() {
        "" => Ok(None),
        secs => secs
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("not a number of seconds: {secs}"))),
    }
}

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
    let routing = manifest::Routing::load(&config.broker_manifests)
        .with_context(|| format!("reading manifests in {}", config.broker_manifests.display()))?;
    let services = &config.broker_services;
    let triggers = routing.resolve(services)?;
    let queues = triggers.iter().map(|t| (t.name.clone(), t.filter.binding())).collect();
    let rabbit = Arc::new(rabbit::Rabbit::new(config.amqp_url.clone(), routing.broker.clone(), queues));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(config.broker_delivery_timeout_ms))
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
        let dispatcher =
            dispatch::Dispatcher::new(trigger, rabbit.clone(), http.clone(), config.broker_inflight);
        tasks.push(tokio::spawn(dispatcher.run(halt_rx.clone())));
    }
    for source in &routing.ping_sources {
        let Some(url) = services.get(&source.sink) else {
            tracing::warn!(pingsource = %source.name, sink = %source.sink, "no URL for the sink; not ticking");
            continue;
        };
        let every = config.broker_ping_every_secs.map(Duration::from_secs).unwrap_or(source.every);
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

/// The binary's whole life: read the settings, run until SIGTERM or Ctrl-C.
pub fn main() -> std::process::ExitCode {
    const NAME: &str = "skybook-broker";
    let config = match shared::config::Source::process().load::<Config>() {
        Ok(config) => config,
        Err(line) => {
            eprintln!("{NAME}: {line}");
            return std::process::ExitCode::from(2);
        }
    };
    let telemetry = shared::lifecycle::Telemetry {
        filter: &config.rust_log.clone(),
        format: config.log_format,
        grace: Duration::from_secs(5),
    };
    shared::lifecycle::run(NAME, telemetry, || async move {
        let running = start(config, shared::http::shutdown_signal()).await.map_err(|e| format!("{e:#}"))?;
        running.done.await.map_err(|e| format!("broker task: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn the_services_are_read_from_their_one_setting_and_a_bad_one_is_named() {
        let config = Config::with_overrides(&[
            ("broker_services", "a=http://127.0.0.1:1, b=http://h:2,"),
            ("broker_ping_every_secs", "2"),
        ])
        .unwrap();
        assert_eq!(config.broker_services.len(), 2);
        assert_eq!(config.broker_services["b"], "http://h:2");
        assert_eq!(config.broker_ping_every_secs, Some(2));
        assert_eq!(Config::with_overrides(&[]).unwrap().broker_ping_every_secs, None);
        let written =
            shared::config::de::join_urls_by_name([("a", "http://127.0.0.1:1"), ("b", "http://h:2")]);
        let again = Config::with_overrides(&[("broker_services", &written)]).unwrap();
        assert_eq!(again.broker_services, config.broker_services);

        let error = Config::with_overrides(&[("broker_services", "a=ftp://x")]).unwrap_err();
        assert!(error.starts_with("configuration: BROKER_SERVICES: expected NAME=http"), "{error}");
        let error = Config::with_overrides(&[("broker_ping_every_secs", "soon")]).unwrap_err();
        assert!(error.starts_with("configuration: BROKER_PING_EVERY_SECS: "), "{error}");
    }
}
