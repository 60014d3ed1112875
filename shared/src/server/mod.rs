//! The server every function runs: routing, auth, rate limit, health,
//! metrics, the contract, CORS, queries by GET, and a span per invocation,
//! on [`crate::http`].

mod cors;
mod query;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming as IncomingBody;
use opentelemetry::KeyValue;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::auth::oidc::Verifier;
use crate::auth::{Access, Authenticator, Caller};
use crate::cloudevent::Incoming;
use crate::cloudevent::signature::EventKeys;
use crate::config::Settings;
use crate::error::Error;
use crate::function::{Ctx, Dependency, Function, Kind};
use crate::http::{
    Body, EVENT_METHODS, Peer, accepted, allow, full, metrics_response, read_body, serve_http,
    shutdown_signal, text,
};
use crate::metrics::Metrics;
use crate::telemetry::trace_context;

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
        app.ctx.db().pool().close().await;
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

    /// One invocation, timed and counted, its answer marked for CORS.
    async fn invoke_timed(&self, request: Request<IncomingBody>) -> Response<Body> {
        let started = Instant::now();
        let peer = request.extensions().get::<Peer>().map_or(IpAddr::from([0, 0, 0, 0]), |p| p.0.ip());
        let span = server_span(self.function.spec.name);
        let headers = request.headers().clone();
        let mut response = self.invoke(request, peer, &span).await.unwrap_or_else(Error::into_response);
        let status = response.status().as_u16();
        trace_context::record_status(&span, status, true);
        self.metrics.observe(status, started.elapsed());
        cors::Cors::mark(self.cors.as_ref(), &headers, &mut response);
        response
    }

    async fn invoke(
        &self,
        request: Request<IncomingBody>,
        peer: IpAddr,
        span: &tracing::Span,
    ) -> Result<Response<Body>, Error> {
        let spec = &self.function.spec;
        let settings = self.ctx.settings();
        // Before the checks, so a refusal (401, 413, 429) is in the caller's trace.
        let hop_traced = trace_context::continue_hop(span, request.headers());
        // A client guessing credentials is held off before any is checked;
        // a request with none is no guess, and costs nothing here.
        let guesser = crate::auth::bearer(request.headers())
            .map(|_| crate::ratelimit::client_of(settings, None, request.headers(), peer));
        if let Some(address) = &guesser {
            self.auth_failures.check(address)?;
        }
        let admitted = match (self.admit(request.headers()).await, &guesser) {
            (Ok(admitted), _) => admitted,
            (Err(e @ (Error::Unauthorized | Error::InvalidToken { .. })), Some(address)) => {
                self.auth_failures.failed(&mut self.ctx.redis(), spec.name, address).await;
                return Err(e);
            }
            (Err(e), _) => return Err(e),
        };
        if spec.rate_limit.is_on() {
            let client =
                crate::ratelimit::client_of(settings, admitted.caller.as_ref(), request.headers(), peer);
            crate::ratelimit::check(
                &mut self.ctx.redis(),
                settings.rate_limit_per_minute,
                spec.name,
                &client,
                spec.rate_limit,
            )
            .await?;
        }
        let (parts, body) = request.into_parts();
        let get = parts.method == Method::GET;
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
        let incoming = if get {
            let data = query::input(parts.uri.query(), &(self.function.contract.accepts)().to_value())?;
            Incoming::from_query(&parts.headers, data, spec.accepts)?
        } else {
            Incoming::parse(&parts.headers, body, spec.accepts)?
        };
        if let Access::BrokerAndControl { types, .. } = spec.access
            && types.contains(&incoming.ty.as_str())
            && !admitted.control
        {
            return Err(Error::Forbidden {
                message: format!("{} is sent by a person, as a binary-mode CloudEvent", incoming.ty),
            });
        }
        if let Some(signatures) = &self.signatures
            && !admitted.control
        {
            signatures.admit(&incoming)?;
        }
        if !hop_traced {
            trace_context::continue_from(span, &parts.headers, incoming.trace.as_ref());
        }
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
        span.record("trace_id", trace_context::trace_id_of(span, incoming.trace.as_ref()));
        // The handler runs in a task of its own: a client that hangs up does
        // not cut a command off between its commit and its publish.
        let (function, ctx) = (self.function.clone(), self.ctx.for_caller(admitted.caller));
        let handled =
            tokio::spawn(async move { function.invoke(ctx, incoming).await }.instrument(span.clone()));
        let outcome = handled.await.map_err(|e| anyhow::anyhow!("the handler task failed: {e}"))?;
        let _entered = span.enter();
        match outcome? {
            Some(reply) if get => {
                tracing::info!(reply_id = %reply.id, "handled");
                let etag = crate::http::etag(reply.data.as_bytes());
                let fresh = crate::http::not_modified(&parts.headers, &etag);
                let mut response = if fresh { not_modified() } else { reply.into_response()? };
                let out = response.headers_mut();
                out.insert(header::ETAG, etag);
                out.insert(header::CACHE_CONTROL, query::cache_control(spec.access == Access::Public));
                if spec.access != Access::Public {
                    out.append(header::VARY, HeaderValue::from_static("authorization"));
                }
                Ok(response)
            }
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

    /// Who is calling and whether they may, as the function's spec says:
    /// 401 without an identity it needs, 403 for one that may never call.
    async fn admit(&self, headers: &http::HeaderMap) -> Result<Admitted, Error> {
        let broker = || async {
            if let Some(senders) = &self.senders {
                senders.verify(headers).await?;
            }
            Ok(Admitted { caller: None, control: false })
        };
        match self.function.spec.access {
            Access::Public => Ok(Admitted { caller: self.auth.identify(headers).await?, control: false }),
            Access::Roles(roles) => {
                let caller = self.auth.identify(headers).await?;
                Authenticator::authorize(caller.as_ref(), roles)?;
                Ok(Admitted { caller, control: false })
            }
            Access::Broker => broker().await,
            Access::BrokerAndControl { types, roles } => {
                let ty = headers.get("ce-type").and_then(|v| v.to_str().ok());
                if !ty.is_some_and(|ty| types.contains(&ty)) {
                    return broker().await;
                }
                let caller = self.auth.identify(headers).await?;
                Authenticator::authorize(caller.as_ref(), roles)?;
                Ok(Admitted { caller, control: true })
            }
        }
    }

    /// The function's contract: the JSON Schemas of the data it accepts and
    /// of its reply's, generated from its types.
    fn schema(&self) -> Response<Body> {
        let (spec, contract) = (&self.function.spec, &self.function.contract);
        // What clients send and get is served as `schemas/` publishes it; a
        // consumer's is its own reading of events another function publishes.
        let accepts = match (self.function.kind, spec.accepts) {
            (Kind::Query | Kind::Command, [ty]) => crate::contract::published(ty, (contract.accepts)()),
            _ => (contract.accepts)().to_value(),
        };
        let mut body = serde_json::json!({
            "function": spec.name,
            "accepts": {"types": spec.accepts, "schema": accepts},
        });
        if let (Some(ty), Some(replies)) = (spec.replies, contract.replies) {
            body["replies"] = serde_json::json!({
                "type": ty,
                "dataschema": crate::contract::id(ty),
                "schema": crate::contract::published(ty, replies()),
            });
        }
        let mut response = Response::new(full(body.to_string()));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }

    /// A site's file or its run-time configuration.
    fn site(&self, path: &str, headers: &http::HeaderMap) -> Response<Body> {
        match (&self.function.site, self.ctx.section::<crate::site::SiteSettings>()) {
            (Some(files), Ok(settings)) => files.get(path, headers, self.ctx.settings(), settings),
            (_, Err(e)) => e.into_response(),
            (None, _) => Error::NoRoute(path.to_owned()).into_response(),
        }
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

/// The paths the runtime answers itself, whatever the function.
fn is_runtime_path(path: &str) -> bool {
    matches!(path, "/health/liveness" | "/health/readiness" | "/health/dependencies" | "/metrics" | "/schema")
}

/// What `/` answers besides POST and OPTIONS for a query.
const QUERY_METHODS: &str = "GET, POST, OPTIONS";

/// `304 Not Modified`: the client's copy is the answer.
fn not_modified() -> Response<Body> {
    let mut response = Response::new(full(""));
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    response
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
