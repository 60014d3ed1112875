//! Dead-lettering: the event with the error it failed with, to the
//! Trigger's dead-letter sink, retried through the delay queues as a
//! delivery is, else parked in a RabbitMQ queue of the Trigger's own.

use base64::Engine;
use cloudevents::Event;
use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use lapin::types::AMQPValue;
use shared::telemetry::trace_context;
use tracing::Instrument;

use super::{DEAD_LETTER_ATTEMPTS, Dispatcher, ERROR_DATA_LIMIT, Failure};
use crate::event;

impl Dispatcher {
    /// The event with Knative's error extensions: who refused it, with what
    /// status, and what it answered.
    pub(super) fn with_error(&self, mut event: Event, failure: &Failure) -> Event {
        let data = &failure.data[..failure.data.len().min(ERROR_DATA_LIMIT)];
        event.set_extension("knativeerrordest", self.trigger.subscriber.to_string());
        event.set_extension("knativeerrorcode", failure.code.to_string());
        event.set_extension("knativeerrordata", base64::engine::general_purpose::STANDARD.encode(data));
        event
    }

    /// One attempt at the dead-letter sink; a failed one is retried through a
    /// delay queue like a delivery (the message settled meanwhile, holding no
    /// prefetch slot), and after the Trigger's retries, or with no sink, the
    /// event is parked in a RabbitMQ queue of the Trigger's own.
    pub(super) async fn settle_dead_letter(
        &self,
        delivery: Delivery,
        event: Event,
        tried: u32,
        span: &tracing::Span,
    ) {
        let outcome = match &self.trigger.delivery.dead_letter_sink {
            None => self.park(&event).await,
            Some(sink) => match self.to_sink(sink, &event, span).instrument(span.clone()).await {
                Ok(()) => Ok("dead_lettered"),
                Err(error) if tried < self.trigger.delivery.retry => {
                    let delay = self.trigger.delivery.backoff.before_retry(tried + 1);
                    let scheduled = match event::to_amqp(&event) {
                        Ok((payload, mut headers)) => {
                            headers.insert(DEAD_LETTER_ATTEMPTS.into(), AMQPValue::LongUInt(tried + 1));
                            self.rabbit.schedule_retry(&self.trigger.name, delay, &payload, headers).await
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    if scheduled.is_ok() {
                        tracing::warn!(
                            trigger = %self.trigger.name, event = %event::describe(&event), error,
                            retry = tried + 1, delay_ms = delay.as_millis() as u64,
                            "the dead-letter sink fails; retry scheduled"
                        );
                    }
                    scheduled.map(|()| "dead_letter_retry_scheduled")
                }
                Err(error) => {
                    tracing::error!(trigger = %self.trigger.name, error, "the dead-letter sink fails; parked in RabbitMQ");
                    self.park(&event).await
                }
            },
        };
        match outcome {
            Ok(outcome) => {
                self.count(outcome);
                let _ = delivery.ack(BasicAckOptions::default()).await;
            }
            // Not even RabbitMQ would keep it: try it all again later.
            Err(e) => self.requeue_later(delivery, "dead-lettering failed", &e).await,
        }
    }

    /// One post of the event to the dead-letter sink.
    async fn to_sink(&self, sink: &reqwest::Url, event: &Event, span: &tracing::Span) -> Result<(), String> {
        let request = event::post(&self.http, sink, event)?.headers(trace_context::headers_of(span));
        match request.send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("answered {}", response.status())),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Into the Trigger's own dead-letter queue in RabbitMQ.
    async fn park(&self, event: &Event) -> Result<&'static str, String> {
        let (payload, headers) = event::to_amqp(event).map_err(|e| e.to_string())?;
        let queue = self.rabbit.dead_letter_queue(&self.trigger.name);
        self.rabbit.publish_to_queue(&queue, &payload, headers).await?;
        Ok("parked")
    }
}
