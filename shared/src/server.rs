//! The HTTP server every function runs: routing, body limit, auth, health,
//! metrics, a span per request, and a graceful stop on SIGTERM.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming as IncomingBody;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use opentelemetry::KeyValue;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::auth::oidc::Verifier;
use crate::cloudevent::Incoming;
use crate::config::Settings;
use crate::error::Error;
use crate::function::{Ctx, Dependency, Function, Kind};
use crate::metrics::Metrics;
use crate::telemetry::trace_context;

/// The body type of every response.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Every metric of the process, in the format the scraper's `Accept` asks for.
pub fn metrics_response(headers: &http::HeaderMap) -> Response<Body> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (body, content_type) = crate::metrics::render_for(accept);
    let mut response = text(StatusCode::OK, body);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// What an event endpoint serves: events by POST, and the OPTIONS probe.
pub const EVENT_METHODS: &str = "POST, OPTIONS";

/// The answer to an OPTIONS probe: no content, and the methods served.
pub fn allow(methods: &'static str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(methods));
    response
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

fn empty() -> Body {
    Empty::new().boxed_unsync()
}

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
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Inside the runtime: the trace exporter sends on its threads.
    runtime.block_on(async { crate::telemetry::init(name, &settings.rust_log, settings.log_format) });
    let grace = settings.shutdown_grace();
    let result = runtime.block_on(async {
        let server = Server::bind(function, settings).await?;
        server.run(shutdown_signal()).await.map_err(|e| e.to_string())
    });
    // The spans of the last requests leave before the process does.
    crate::telemetry::shutdown(grace);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("{name}: {line}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGTERM (how Knative stops a pod) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
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
    /// The sender-token check of a consumer, when sender identity is on.
    senders: Option<Verifier>,
}

impl Server {
    /// Binds `0.0.0.0:$PORT` (port 0 picks a free one). No other network work.
    pub async fn bind(function: Function, settings: Settings) -> Result<Self, String> {
        let addr = SocketAddr::from(([0, 0, 0, 0], settings.port));
        let listener = TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        if function.spec.authenticated {
            settings.require_keys(function.spec.name)?;
        }
        let metrics = Metrics::new(function.spec.name);
        if function.spec.rate_limited {
            crate::ratelimit::count_refusals_of(function.spec.name);
        }
        let senders = match function.kind {
            Kind::Consumer => Verifier::from_settings(&settings, function.spec.name)?,
            Kind::Query | Kind::Command => None,
        };
        let ctx = Ctx::new(settings)?;
        // The first request should find a connection open, or nearly: one is
        // opened now, in the background, never holding up the listener.
        if function.spec.dependencies.contains(&Dependency::Postgres) {
            ctx.db().warm_up();
        }
        Ok(Server { listener, app: Arc::new(App { function, ctx, metrics, senders }) })
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
        app.ctx.db().pool().close().await;
        Ok(())
    }
}

/// The address a request's connection came from, in its extensions.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Serves HTTP/1.1 on `listener` with `handler` until `shutdown` resolves,
/// then stops accepting and gives in-flight requests up to `grace` to finish.
pub async fn serve_http<H, F>(
    listener: TcpListener,
    handler: H,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) where
    H: Fn(Request<IncomingBody>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                let service = service_fn(move |mut request: Request<IncomingBody>| {
                    request.extensions_mut().insert(Peer(peer));
                    let response = handler(request);
                    async move { Ok::<_, Infallible>(response.await) }
                });
                let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "connection closed with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("draining in-flight requests");
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("grace period over, closing open connections");
    }
}

impl App {
    async fn handle(self: Arc<Self>, request: Request<IncomingBody>) -> Response<Body> {
        let path = request.uri().path();
        match (request.method(), path) {
            (&Method::POST, "/") => {
                let started = Instant::now();
                let peer =
                    request.extensions().get::<Peer>().map_or(IpAddr::from([0, 0, 0, 0]), |p| p.0.ip());
                let span = server_span(self.function.spec.name);
                let response = self.invoke(request, peer, &span).await.unwrap_or_else(Error::into_response);
                let status = response.status().as_u16();
                trace_context::record_status(&span, status, true);
                self.metrics.observe(status, started.elapsed());
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
            (&Method::OPTIONS, "/") => allow(EVENT_METHODS),
            (_, "/") => Error::MethodNotAllowed { allow: EVENT_METHODS }.into_response(),
            (
                _,
                "/health/liveness" | "/health/readiness" | "/health/dependencies" | "/metrics" | "/schema",
            ) => Error::MethodNotAllowed { allow: "GET" }.into_response(),
            (_, other) => Error::NoRoute(other.to_owned()).into_response(),
        }
    }

    async fn invoke(
        &self,
        request: Request<IncomingBody>,
        peer: IpAddr,
        span: &tracing::Span,
    ) -> Result<Response<Body>, Error> {
        let spec = &self.function.spec;
        let settings = self.ctx.settings();
        if let Some(senders) = &self.senders {
            senders.verify(request.headers()).await?;
        }
        let verified_key = match spec.authenticated {
            true => crate::auth::check(&settings.auth_api_keys, request.headers())?,
            false => None,
        };
        if spec.rate_limited {
            let client = crate::ratelimit::client_of(settings, verified_key, request.headers(), peer);
            crate::ratelimit::check(&self.ctx, spec.name, &client).await?;
        }
        let (parts, body) = request.into_parts();
        let limit = settings.body_limit;
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(Error::PayloadTooLarge { limit });
        }
        let body = read_body(body, limit, settings.body_timeout()).await?;
        let incoming = Incoming::parse(&parts.headers, body, spec.accepts)?;
        trace_context::continue_from(span, &parts.headers, incoming.traceparent.as_deref());
        span.record("ce_id", tracing::field::display(&incoming.id));
        span.record("ce_source", tracing::field::display(&incoming.source));
        trace_context::set_name(span, || format!("CloudEvents Process {}", incoming.ty));
        trace_context::set_attributes(span, || {
            let mut attributes = vec![
                KeyValue::new("cloudevents.event_id", incoming.id.clone()),
                KeyValue::new("cloudevents.event_source", incoming.source.clone()),
                KeyValue::new("cloudevents.event_type", incoming.ty.clone()),
            ];
            if let Some(subject) = &incoming.subject {
                attributes.push(KeyValue::new("cloudevents.event_subject", subject.clone()));
            }
            attributes
        });
        span.record("trace_id", trace_context::trace_id_of(span, incoming.traceparent.as_deref()));
        // The handler runs in a task of its own: a client that hangs up does
        // not cut a command off between its commit and its publish.
        let (function, ctx) = (self.function.clone(), self.ctx.clone());
        let handled =
            tokio::spawn(async move { function.invoke(ctx, incoming).await }.instrument(span.clone()));
        let outcome = handled.await.map_err(|e| anyhow::anyhow!("the handler task failed: {e}"))?;
        let _entered = span.enter();
        match outcome? {
            Some(reply) => {
                tracing::info!(reply_id = %reply.id, "handled");
                reply.into_response()
            }
            None => {
                tracing::info!("accepted");
                Ok(accepted())
            }
        }
    }

    /// The function's contract: the JSON Schemas of the data it accepts and
    /// of its reply's, generated from its types.
    fn schema(&self) -> Response<Body> {
        let (spec, contract) = (&self.function.spec, &self.function.contract);
        let mut body = serde_json::json!({
            "function": spec.name,
            "accepts": {"types": spec.accepts, "schema": (contract.accepts)()},
        });
        if let Some(replies) = contract.replies {
            body["replies"] = serde_json::json!({
                "type": spec.replies,
                "dataschema": crate::contract::id(spec.replies),
                "schema": replies(),
            });
        }
        let mut response = Response::new(full(body.to_string()));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }

    /// Each dependency the function declares, checked now: 200 when all
    /// answer, 503 otherwise, with what each said; also kept as the
    /// `skybook_dependency_up` gauge.
    async fn dependencies(&self) -> Response<Body> {
        let mut report = serde_json::Map::new();
        let mut all_up = true;
        for dependency in self.function.spec.dependencies {
            let checked = match dependency {
                Dependency::Postgres => crate::db::ping(self.ctx.db()).await.map_err(Error::from),
                Dependency::Redis => crate::redis::ping(&mut self.ctx.redis()).await.map_err(Error::from),
            };
            self.metrics.dependency(dependency.name(), checked.is_ok());
            let state = match checked {
                Ok(()) => serde_json::json!({"up": true}),
                Err(e) => {
                    all_up = false;
                    tracing::warn!(dependency = dependency.name(), error = %e, "dependency down");
                    serde_json::json!({"up": false, "code": e.code()})
                }
            };
            report.insert(dependency.name().to_owned(), state);
        }
        let status = if all_up { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
        let mut response = Response::new(full(serde_json::Value::Object(report).to_string()));
        *response.status_mut() = status;
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

/// The span of one invocation: a server span, named and parented once the
/// event is read (the trace it continues comes with it), in every log line
/// the handler writes.
fn server_span(function: &'static str) -> tracing::Span {
    let (service, revision) = crate::telemetry::knative();
    tracing::info_span!(
        "invoke",
        otel.name = tracing::field::Empty,
        otel.kind = "server",
        function,
        k_service = service,
        k_revision = revision,
        ce_id = tracing::field::Empty,
        ce_source = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    )
}

/// A request's whole body, at most `limit` bytes (413 past it), within
/// `timeout`: a client that trickles its body would hold a connection and a
/// buffer for as long as it liked, so it gets a deadline (408).
pub async fn read_body(body: IncomingBody, limit: usize, timeout: Duration) -> Result<Bytes, Error> {
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect())
        .await
        .map_err(|_| Error::RequestTimeout { secs: timeout.as_secs().max(1) })?
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                Error::PayloadTooLarge { limit }
            } else {
                Error::malformed("unreadable_body", format!("the request body could not be read: {e}"))
            }
        })?;
    Ok(collected.to_bytes())
}

pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(full(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

pub fn accepted() -> Response<Body> {
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}
