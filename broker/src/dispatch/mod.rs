//! A dispatcher per Trigger: takes events off the Trigger's queue, POSTs each
//! to the subscriber, retries with backoff, dead-letters what cannot be
//! delivered, and routes reply events back into the broker.
//!
//! A message is acknowledged only once its fate is settled (delivered, or
//! dead-lettered), so a broker killed mid-delivery loses nothing: RabbitMQ
//! hands the message out again.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cloudevents::Event;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use tokio::sync::watch;
use tokio::task::JoinSet;

use shared::metrics::labels;
use shared::telemetry::trace_context;
use tracing::Instrument;

mod dead_letter;

use crate::manifest::Trigger;
use crate::rabbit::Rabbit;
use crate::{event, trace};

pub(crate) static DELIVERIES: shared::metrics::Counters = shared::metrics::counters(
    "broker_deliveries",
    "Deliveries by Trigger and outcome (delivered, retry_scheduled, dead_lettered: taken by the dead-letter sink, dead_letter_retry_scheduled: the sink failed and is tried again later, parked: kept in RabbitMQ, filtered, unreadable)",
);
pub(crate) static DEPTH: shared::metrics::Gauges =
    shared::metrics::gauges("broker_queue_depth", "Events waiting in a Trigger's queue, by Trigger");

/// How often each dispatcher reads its queue's depth.
const DEPTH_EVERY: Duration = Duration::from_secs(5);

/// How long a stopping broker lets deliveries under way finish.
const DRAIN: Duration = Duration::from_secs(10);
/// How much of a failed response body `knativeerrordata` carries.
const ERROR_DATA_LIMIT: usize = 1024;

pub struct Dispatcher {
    trigger: Trigger,
    rabbit: Arc<Rabbit>,
    http: reqwest::Client,
    inflight: u16,
}

/// Why a delivery failed: the status (0 when no response came) and the body.
struct Failure {
    code: u16,
    data: Bytes,
    retryable: bool,
}

impl Dispatcher {
    fn count(&self, outcome: &str) {
        DELIVERIES.get_or_create(&labels(&[("trigger", &self.trigger.name), ("outcome", outcome)])).inc();
    }

    pub fn new(trigger: Trigger, rabbit: Arc<Rabbit>, http: reqwest::Client, inflight: u16) -> Self {
        Dispatcher { trigger, rabbit, http, inflight: inflight.max(1) }
    }

    /// Consumes until halted, reconnecting whenever RabbitMQ goes away.
    pub async fn run(self, mut halt: watch::Receiver<bool>) {
        let this = Arc::new(self);
        while !*halt.borrow() {
            match this.consume(&mut halt).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(trigger = %this.trigger.name, error = %e, "consumer lost; reconnecting");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = halt.changed() => return,
                    }
                }
            }
        }
    }

    async fn consume(self: &Arc<Self>, halt: &mut watch::Receiver<bool>) -> anyhow::Result<()> {
        let connection = self.rabbit.connect().await?;
        let channel = connection.create_channel().await?;
        let queue = self
            .rabbit
            .declare_trigger_queue(&channel, &self.trigger.name, &self.trigger.filter.binding())
            .await?;
        // Prefetch bounds the events in flight to this subscriber.
        channel.basic_qos(self.inflight, BasicQosOptions::default()).await?;
        let tag = format!("skybook-broker.{}", self.trigger.name);
        let mut consumer = channel
            .basic_consume(queue.into(), tag.into(), BasicConsumeOptions::default(), FieldTable::default())
            .await?;
        let mut in_flight = JoinSet::new();
        let mut depth = tokio::time::interval(DEPTH_EVERY);
        let result = loop {
            tokio::select! {
                _ = depth.tick() => {
                    let passive = QueueDeclareOptions { passive: true, ..Default::default() };
                    let name = self.rabbit.trigger_queue(&self.trigger.name);
                    if let Ok(queue) = channel.queue_declare(name.into(), passive, FieldTable::default()).await {
                        DEPTH.get_or_create(&labels(&[("trigger", &self.trigger.name)])).set(i64::from(queue.message_count()));
                    }
                }
                next = consumer.next() => match next {
                    Some(Ok(delivery)) => {
                        let this = self.clone();
                        in_flight.spawn(async move { this.deliver(delivery).await });
                    }
                    Some(Err(e)) => break Err(e.into()),
                    None => break Err(anyhow::anyhow!("the consumer was cancelled")),
                },
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = halt.changed() => break Ok(()),
            }
        };
        // Stopping (SIGTERM): deliveries under way finish and are settled,
        // for a while, rather than go back to the queue to be delivered
        // again. Past that, or on an error, what is unsettled goes back.
        if result.is_ok() {
            let drained = async { while in_flight.join_next().await.is_some() {} };
            if tokio::time::timeout(DRAIN, drained).await.is_err() {
                tracing::warn!(trigger = %self.trigger.name, "deliveries still under way at shutdown go back to the queue");
            }
        }
        in_flight.abort_all();
        let _ = connection.close(200, "bye".into()).await;
        result
    }

    async fn deliver(&self, delivery: Delivery) {
        let event = match event::from_amqp(&delivery.data) {
            Ok(event) => event,
            Err(e) => {
                // Not an event at all: nothing will ever deliver it, but it is
                // kept, as it came, in the Trigger's dead-letter queue.
                tracing::error!(trigger = %self.trigger.name, error = %e, "unreadable message: to the dead-letter queue");
                let mut headers = FieldTable::default();
                headers.insert(
                    "x-skybook-error".into(),
                    AMQPValue::LongString(format!("unreadable: {e}").into()),
                );
                let queue = self.rabbit.dead_letter_queue(&self.trigger.name);
                match self.rabbit.publish_to_queue(&queue, &delivery.data, headers).await {
                    Ok(()) => {
                        self.count("unreadable");
                        let _ = delivery.ack(BasicAckOptions::default()).await;
                    }
                    Err(e) => {
                        self.requeue_later(delivery, "could not keep it", &e).await;
                    }
                }
                return;
            }
        };
        if !self.trigger.filter.matches(&event) {
            // Routed here by the binding, which requires only exact values.
            tracing::debug!(trigger = %self.trigger.name, event = %event::describe(&event), "filtered out");
            self.count("filtered");
            let _ = delivery.ack(BasicAckOptions::default()).await;
            return;
        }
        // Back from a delay queue to try the dead-letter sink again: the
        // event already carries the error it was dead-lettered with.
        if let Some(tried) = count_of(&delivery, DEAD_LETTER_ATTEMPTS) {
            let span = tracing::info_span!("dead_letter", trigger = %self.trigger.name);
            self.settle_dead_letter(delivery, event, tried, &span).await;
            return;
        }
        // Retries so far: carried by the message, so they survive a restart.
        let attempt = count_of(&delivery, RETRIES).unwrap_or(0);
        let queue = self.rabbit.trigger_queue(&self.trigger.name);
        let span = trace::deliver(
            &self.trigger.name,
            &queue,
            &event,
            delivery.properties.headers().as_ref(),
            attempt,
        );
        let outcome = self.attempt(&event, &span).instrument(span.clone()).await;
        trace_context::record_status(&span, outcome.as_ref().map_or_else(|f| f.code, |()| 200), false);
        let failure = match outcome {
            Ok(()) => {
                self.count("delivered");
                let _ = delivery.ack(BasicAckOptions::default()).await;
                return;
            }
            Err(failure) => failure,
        };
        if failure.retryable && attempt < self.trigger.delivery.retry {
            let delay = self.trigger.delivery.backoff.before_retry(attempt + 1);
            let mut headers = delivery.properties.headers().clone().unwrap_or_default();
            headers.insert(RETRIES.into(), AMQPValue::LongUInt(attempt + 1));
            match self.rabbit.schedule_retry(&self.trigger.name, delay, &delivery.data, headers).await {
                Ok(()) => {
                    tracing::info!(
                        trigger = %self.trigger.name, event = %event::describe(&event), code = failure.code,
                        retry = attempt + 1, delay_ms = delay.as_millis() as u64, "delivery failed; retry scheduled"
                    );
                    self.count("retry_scheduled");
                    let _ = delivery.ack(BasicAckOptions::default()).await;
                }
                Err(e) => {
                    self.requeue_later(delivery, "could not schedule the retry", &e).await;
                }
            }
            return;
        }
        tracing::warn!(
            trigger = %self.trigger.name, event = %event::describe(&event), code = failure.code, attempts = attempt + 1,
            "undeliverable; dead-lettering"
        );
        let event = self.with_error(event, &failure);
        self.settle_dead_letter(delivery, event, 0, &span).await;
    }

    /// RabbitMQ failed us mid-settlement: the message goes back to the
    /// queue, after a pause, to be taken again from the start.
    async fn requeue_later(&self, delivery: Delivery, what: &str, error: &str) {
        tracing::error!(trigger = %self.trigger.name, error, "{what}; requeued");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _ = delivery.nack(BasicNackOptions { requeue: true, ..Default::default() }).await;
    }

    /// One delivery; a reply event in a 200 response is routed back in.
    async fn attempt(&self, event: &Event, span: &tracing::Span) -> Result<(), Failure> {
        let request = event::post(&self.http, &self.trigger.subscriber, event).map_err(|e| Failure {
            code: 0,
            data: Bytes::from(e),
            retryable: false,
        })?;
        // This attempt is the hop the subscriber continues.
        let request = request.headers(trace_context::headers_of(span));
        // The broker routes replies, and says so to the subscriber.
        let request = request.header("prefer", "reply");
        let response = request.send().await.map_err(|e| Failure {
            code: 0,
            data: Bytes::from(e.to_string()),
            retryable: true,
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default();
        if !status.is_success() {
            return Err(Failure {
                code: status.as_u16(),
                data: body,
                retryable: shared::cloudevent::retryable(status.as_u16()),
            });
        }
        // Only a 200 carries a reply: an event in a 202 is not routed further.
        if status == http::StatusCode::OK && event::is_event(&headers) {
            self.route_reply(&headers, body, span).await?;
        }
        Ok(())
    }

    async fn route_reply(
        &self,
        headers: &http::HeaderMap,
        body: Bytes,
        span: &tracing::Span,
    ) -> Result<(), Failure> {
        let reply = event::from_http(headers, body.clone()).map_err(|e| Failure {
            code: 502,
            data: Bytes::from(format!("invalid reply event: {e}")),
            retryable: false,
        })?;
        let (payload, mut amqp_headers) = event::to_amqp(&reply).map_err(|e| Failure {
            code: 502,
            data: Bytes::from(e.to_string()),
            retryable: false,
        })?;
        let publish = span.in_scope(|| trace::publish(&self.rabbit.exchange(), &reply, &mut amqp_headers));
        self.rabbit.publish(&payload, amqp_headers).instrument(publish).await.map_err(|e| Failure {
            code: 503,
            data: Bytes::from(e),
            retryable: true,
        })
    }
}

/// The header that counts a message's retries.
const RETRIES: &str = "x-skybook-retries";
/// The header that counts the dead-letter sink's attempts at a message: set,
/// the message is being dead-lettered, not delivered.
const DEAD_LETTER_ATTEMPTS: &str = "x-skybook-dead-letter-attempts";

fn count_of(delivery: &Delivery, header: &str) -> Option<u32> {
    match delivery.properties.headers().as_ref().and_then(|h| h.inner().get(header))? {
        AMQPValue::LongUInt(n) => Some(*n),
        AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
        _ => None,
    }
}
