//! One invocation: who calls and whether they may, the rate limit, the
//! request read in any of its modes (or a query's GET), the handler run in a
//! task of its own, and its reply (with an ETag for a GET).

use std::net::IpAddr;
use std::time::Instant;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming as IncomingBody;
use opentelemetry::KeyValue;
use tracing::Instrument;

use super::{Admitted, App, cors, query};
use crate::auth::{Access, Authenticator};
use crate::cloudevent::Incoming;
use crate::error::Error;
use crate::function::Kind;
use crate::http::{Body, Peer, accepted, full, read_body};
use crate::telemetry::trace_context;

impl App {
    /// One invocation, timed and counted, its answer marked for CORS.
    pub(super) async fn invoke_timed(&self, request: Request<IncomingBody>) -> Response<Body> {
        let started = Instant::now();
        let peer = request.extensions().get::<Peer>().map_or(IpAddr::from([0, 0, 0, 0]), |p| p.0.ip());
        let span = server_span(self.function.spec.name);
        // What CORS needs of the request, kept before the request is consumed.
        let origin = request.headers().get(header::ORIGIN).cloned();
        let mut response = self.invoke(request, peer, &span).await.unwrap_or_else(Error::into_response);
        let status = response.status().as_u16();
        trace_context::record_status(&span, status, true);
        self.metrics.observe(status, started.elapsed());
        cors::Cors::mark(self.cors.as_ref(), origin.as_ref(), &mut response);
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
            let schema = self.query_schema.as_ref().unwrap_or(&serde_json::Value::Null);
            let data = query::input(parts.uri.query(), schema)?;
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
        let (function, ctx) = (self.function.clone(), self.ctx.for_caller(admitted.caller));
        let handled = async move { function.invoke(ctx, incoming).await }.instrument(span.clone());
        let outcome = if function_writes(self.function.kind) {
            // In a task of its own: a client that hangs up does not cut a
            // command off between its commit and its publish.
            tokio::spawn(handled).await.map_err(|e| anyhow::anyhow!("the handler task failed: {e}"))?
        } else {
            // A read has nothing to leave half done: a hang-up may drop it.
            handled.await
        };
        let _entered = span.enter();
        match outcome? {
            // Each answer is counted and timed in the metrics; its own log
            // line is for debugging (a line per request is a write per
            // request, whoever reads it). Refusals and failures keep theirs.
            Some(reply) if get => {
                tracing::debug!(reply_id = %reply.id, "handled");
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
                tracing::debug!(reply_id = %reply.id, "handled");
                reply.into_response()
            }
            None => {
                tracing::debug!("accepted");
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
}

/// Whether a function of this kind writes (and so must finish once begun).
fn function_writes(kind: Kind) -> bool {
    matches!(kind, Kind::Command | Kind::Consumer)
}

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
