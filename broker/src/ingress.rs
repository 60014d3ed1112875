//! The ingress: `POST /{namespace}/{broker}` takes a CloudEvent and answers
//! 202 once RabbitMQ has it on disk.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use shared::Error;
use shared::http::{Body, EVENT_METHODS, accepted, allow, metrics_response, read_body, text};
use shared::metrics::labels;
use shared::telemetry::trace_context;
use tracing::Instrument;

use crate::manifest::BrokerName;
use crate::rabbit::Rabbit;
use crate::{event, trace};

pub(crate) static INGRESS: shared::metrics::Counters = shared::metrics::counters(
    "broker_ingress",
    "Events offered to the ingress, by HTTP code (202: accepted)",
);

/// Events larger than this are refused, as Knative's ingress does.
const MAX_EVENT_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct Ingress {
    path: Arc<str>,
    rabbit: Arc<Rabbit>,
    body_timeout: Duration,
}

impl Ingress {
    pub fn new(broker: BrokerName, rabbit: Arc<Rabbit>, body_timeout: Duration) -> Self {
        Ingress { path: format!("/{}/{}", broker.namespace, broker.name).into(), rabbit, body_timeout }
    }

    pub async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let path = request.uri().path().to_owned();
        match (request.method(), path.as_str()) {
            (&Method::POST, p) if p == &*self.path => {
                let span = trace::ingress(&self.path);
                let response = self.accept(request, &span).await.unwrap_or_else(Error::into_response);
                trace_context::record_status(&span, response.status().as_u16(), true);
                let code = response.status().as_u16().to_string();
                INGRESS.get_or_create(&labels(&[("code", &code)])).inc();
                response
            }
            (&Method::GET, "/metrics") => metrics_response(request.headers()),
            (&Method::OPTIONS, p) if p == &*self.path => allow(EVENT_METHODS),
            (&Method::GET, "/health/liveness" | "/health/readiness") => text(StatusCode::OK, "ok"),
            (_, p) if p == &*self.path => Error::MethodNotAllowed { allow: EVENT_METHODS }.into_response(),
            (_, "/health/liveness" | "/health/readiness") => {
                Error::MethodNotAllowed { allow: "GET" }.into_response()
            }
            (_, other) => Error::NoRoute(other.to_owned()).into_response(),
        }
    }

    async fn accept(
        &self,
        request: Request<Incoming>,
        span: &tracing::Span,
    ) -> Result<Response<Body>, Error> {
        let (parts, body) = request.into_parts();
        // Before the checks, so a refusal (415, 413, 408, 400) is in the sender's trace.
        let hop_traced = trace_context::continue_hop(span, &parts.headers);
        if event::is_batch(&parts.headers) {
            return Err(Error::UnsupportedMediaType {
                message: "batched CloudEvents are not accepted: send one event per request".into(),
            });
        }
        let body = read_body(body, MAX_EVENT_BYTES, self.body_timeout).await?;
        let event = event::from_http(&parts.headers, body)
            .map_err(|e| Error::malformed("invalid_cloudevent", format!("not a valid CloudEvent: {e}")))?;
        // Every attribute goes into the AMQP headers, which must fit in one
        // frame: past it RabbitMQ closes the connection every publish shares.
        shared::cloudevent::bounds::check_event(&event)?;
        if !hop_traced {
            trace_context::continue_from(span, &parts.headers, event::trace_of(&event).as_ref());
        }
        let (payload, mut headers) = event::to_amqp(&event).map_err(anyhow::Error::from)?;
        let publish = span.in_scope(|| trace::publish(&self.rabbit.exchange(), &event, &mut headers));
        self.rabbit
            .publish(&payload, headers)
            .instrument(publish)
            .await
            .map_err(|e| Error::unavailable("broker_unavailable", e))?;
        tracing::debug!(event = %event::describe(&event), "queued");
        Ok(accepted())
    }
}
