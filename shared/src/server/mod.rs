//! The server every function runs: routing, auth, rate limit, health,
//! metrics, the contract, CORS, queries by GET, and a span per invocation,
//! on [`crate::http`].

mod cors;
mod endpoints;
mod invoke;
mod query;

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming as IncomingBody;
use tokio::net::TcpListener;

use crate::auth::oidc::Verifier;
use crate::auth::{Authenticator, Caller};
use crate::cloudevent::signature::EventKeys;
use crate::config::Settings;
use crate::error::Error;
use crate::function::{Ctx, Dependency, Function, Kind};
use crate::http::{Body, EVENT_METHODS, allow, metrics_response, serve_http, shutdown_signal, text};
use crate::metrics::Metrics;

/// Runs a function until SIGTERM: the whole of a function binary's `main`.
pub fn serve(function: Function) -> ExitCode {
    let name = function.spec.name;
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(line) => {
            eprintln!("{name}: {line}");
            return ExitCode::from(2);
        }
    };
    let telemetry = crate::lifecycle::Telemetry {
        filter: &settings.rust_log.clone(),
        format: settings.log_format,
        grace: settings.shutdown_grace(),
    };
    crate::lifecycle::run(name, telemetry, || async move {
        let server = Server::bind(function, settings).await?;
        server.run(shutdown_signal()).await.map_err(|e| e.to_string())
    })
}

/// A bound, not yet serving, function.
pub struct Server {
    listener: TcpListener,
    app: Arc<App>,
}

struct App {
    function: Function,
    ctx: Ctx,
    metrics: Metrics,
    /// Who a client is (API keys, end users' tokens).
    auth: Authenticator,
    /// The sender-token check of a consumer, when sender identity is on.
    senders: Option<Verifier>,
    /// The signature check of a consumer, when events are signed.
    signatures: Option<EventKeys>,
    /// Clients that failed authentication too often.
    auth_failures: crate::ratelimit::AuthFailures,
    /// The methods `/` answers: a query also GET.
    methods: &'static str,
    /// Which browsers' origins may read the answers, if any.
    cors: Option<cors::Cors>,
    /// A query's input schema, which reads its GET parameters: made once.
    query_schema: Option<serde_json::Value>,
}

/// What the checks before the handler found.
struct Admitted {
    caller: Option<Caller>,
    /// A control event, sent by a person rather than the Broker.
    control: bool,
}

impl Server {
    /// Binds `0.0.0.0:$PORT` (port 0 picks a free one). No other network work.
    pub async fn bind(function: Function, settings: Settings) -> Result<Self, String> {
        let addr = SocketAddr::from(([0, 0, 0, 0], settings.port));
        let listener = TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let (access, kind) = (function.spec.access, function.kind);
        if access.is_broker() != (kind == Kind::Consumer) {
            return Err(format!(
                "{}: a consumer is called by the Broker, and only a consumer is ({access:?})",
                function.spec.name
            ));
        }
        let auth = Authenticator::from_settings(&settings, access, function.spec.name)?;
        let metrics = Metrics::new(function.spec.name);
        // Every family the function reports shows from the first scrape.
        for family in function.metrics() {
            family.register();
        }
        if function.spec.rate_limit.is_on() {
            crate::ratelimit::count_refusals_of(function.spec.name);
        }
        let (senders, signatures) = match kind {
            Kind::Consumer => consumer_checks(&settings, function.spec.name)?,
            Kind::Query | Kind::Command | Kind::Site => (None, None),
        };
        let ctx = Ctx::with_sections(settings, &function.sections)?;
        // The first request should find a connection open, or nearly: one is
        // opened now, in the background, never holding up the listener.
        if function.spec.dependencies.contains(&Dependency::Postgres) {
            ctx.db().warm_up();
        }
        let methods = match kind {
            Kind::Query => QUERY_METHODS,
            Kind::Site => "GET",
            Kind::Command | Kind::Consumer => EVENT_METHODS,
        };
        // What a consumer answers is the Broker's alone; a site is its own origin.
        let cors = match kind {
            Kind::Consumer | Kind::Site => None,
            Kind::Query | Kind::Command => cors::Cors::new(&ctx.settings().cors_allowed_origins, methods),
        };
        let query_schema = (kind == Kind::Query).then(|| (function.contract.accepts)().to_value());
        Ok(Server {
            listener,
            app: Arc::new(App {
                function,
                ctx,
                metrics,
                auth,
                senders,
                signatures,
                auth_failures: Default::default(),
                methods,
                cors,
                query_schema,
            }),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting and waits for
    /// in-flight requests (at most the configured grace period).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let Server { listener, app } = self;
        let name = app.function.spec.name;
        tracing::info!(function = name, addr = %listener.local_addr()?, "listening");
        let grace = app.ctx.settings().shutdown_grace();
        let handler_app = app.clone();
        let handler = move |request| {
            let app = handler_app.clone();
            async move { app.handle(request).await }
        };
        serve_http(listener, handler, shutdown, grace).await;
        // What the process owes the broker goes out before it exits (Knative
        // may be scaling it to zero); whatever does not, the relay sends.
        app.ctx.flush_events(grace).await;
        tracing::info!(function = name, "stopped");
        app.ctx.db().close();
        Ok(())
    }
}

impl App {
    async fn handle(self: Arc<Self>, request: Request<IncomingBody>) -> Response<Body> {
        let path = request.uri().path();
        match (request.method(), path) {
            (&Method::POST, "/") if self.function.kind != Kind::Site => self.invoke_timed(request).await,
            (&Method::GET, "/") if self.function.kind == Kind::Query => self.invoke_timed(request).await,
            (&Method::GET, _) if self.function.site.is_some() && !is_runtime_path(path) => {
                let started = Instant::now();
                let response = self.site(path, request.headers());
                self.metrics.observe(response.status().as_u16(), started.elapsed());
                response
            }
            (&Method::GET, "/health/liveness") => text(StatusCode::OK, "ok"),
            // Knative's convention: readiness is the process's (it serves);
            // a dependency that is down shows as 503s with their codes and
            // below, not as every pod of every function unready at once.
            (&Method::GET, "/health/readiness") => text(StatusCode::OK, "ready"),
            (&Method::GET, "/health/dependencies") => self.dependencies().await,
            (&Method::GET, "/schema") => self.schema(),
            (&Method::GET, "/metrics") => {
                self.ctx.db().observe_pool();
                metrics_response(request.headers())
            }
            // Knative's data plane: a sender may probe with OPTIONS, and the
            // answer names POST in `Allow`.
            (&Method::OPTIONS, "/") => cors::Cors::preflight(self.cors.as_ref(), request.headers())
                .unwrap_or_else(|| allow(self.methods)),
            (_, "/") => Error::MethodNotAllowed { allow: self.methods }.into_response(),
            (
                _,
                "/health/liveness" | "/health/readiness" | "/health/dependencies" | "/metrics" | "/schema",
            ) => Error::MethodNotAllowed { allow: "GET" }.into_response(),
            (_, other) => Error::NoRoute(other.to_owned()).into_response(),
        }
    }
}

/// The paths the runtime answers itself, whatever the function.
fn is_runtime_path(path: &str) -> bool {
    matches!(path, "/health/liveness" | "/health/readiness" | "/health/dependencies" | "/metrics" | "/schema")
}

/// What `/` answers besides POST and OPTIONS for a query.
const QUERY_METHODS: &str = "GET, POST, OPTIONS";

/// How a consumer knows an event came from this deployment: the sender's
/// token (`OIDC_ENABLED`, where the broker class sends one), the event's
/// signature (`EVENT_SIGNING_KEYS`, on every class), or both. With neither
/// it does not start, unless `AUTH_DISABLED=true` says it may take anyone's.
fn consumer_checks(settings: &Settings, name: &str) -> Result<(Option<Verifier>, Option<EventKeys>), String> {
    let senders = Verifier::from_settings(settings, name)?;
    let signatures = EventKeys::from_settings(settings)?;
    if senders.is_none() && signatures.is_none() && !settings.auth_disabled {
        return Err(format!(
            "configuration: EVENT_SIGNING_KEYS: {name} takes events only from this deployment's functions; \
             set EVENT_SIGNING_KEYS (the same on every function) or OIDC_ENABLED=true, \
             or AUTH_DISABLED=true to take anyone's"
        ));
    }
    Ok((senders, signatures))
}
