//! RabbitMQ: the broker's durable headers exchange, a durable queue per
//! Trigger bound with the Trigger's filter, and a publisher with confirms
//! that reconnects after RabbitMQ restarts.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::manifest::BrokerName;

/// Persistent: a queued event survives a restart of RabbitMQ.
const PERSISTENT: u8 = 2;

/// How long opening the publisher may take: a RabbitMQ that takes the TCP
/// connection and never answers must not hold a request for ever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// After a failed attempt, requests are refused at once for this long
/// rather than each trying again.
const RECONNECT_BACKOFF: Duration = Duration::from_secs(1);

/// The publishing connection, and whether one is being opened: while it
/// is, requests wait for that one attempt; just after it failed, they answer
/// 503 at once. Never locked across I/O.
#[derive(Default)]
struct Publisher {
    current: Option<(Connection, Channel)>,
    connecting: bool,
    failed_at: Option<Instant>,
}

impl Publisher {
    /// The channel, if its connection and itself are up.
    fn live(&self) -> Option<Channel> {
        let (conn, channel) = self.current.as_ref()?;
        (conn.status().connected() && channel.status().connected()).then(|| channel.clone())
    }
}

/// Clears `connecting` however the attempt ends, a dropped request
/// included, and wakes the requests that wait for its outcome.
struct Connecting<'a>(&'a Mutex<Publisher>, &'a tokio::sync::Notify);

impl Drop for Connecting<'_> {
    fn drop(&mut self) {
        if let Ok(mut publisher) = self.0.lock() {
            publisher.connecting = false;
        }
        self.1.notify_waiters();
    }
}

pub struct Rabbit {
    url: String,
    broker: BrokerName,
    /// Each Trigger's name and filter: their queues exist before any event
    /// is accepted, so none is accepted into a void.
    triggers: Vec<(String, BTreeMap<String, String>)>,
    publisher: Mutex<Publisher>,
    /// Told when an attempt to open the publisher ends.
    attempted: tokio::sync::Notify,
}

impl Rabbit {
    pub fn new(url: String, broker: BrokerName, triggers: Vec<(String, BTreeMap<String, String>)>) -> Self {
        Rabbit {
            url,
            broker,
            triggers,
            publisher: Mutex::new(Publisher::default()),
            attempted: tokio::sync::Notify::new(),
        }
    }

    pub fn exchange(&self) -> String {
        format!("skybook.broker.{}.{}", self.broker.namespace, self.broker.name)
    }

    pub fn trigger_queue(&self, trigger: &str) -> String {
        format!("skybook.trigger.{}.{}", self.broker.namespace, trigger)
    }

    pub fn dead_letter_queue(&self, trigger: &str) -> String {
        format!("skybook.dead-letter.{}.{}", self.broker.namespace, trigger)
    }

    /// Where a Trigger's events wait out a back-off of `delay`: RabbitMQ holds
    /// them for the delay, then dead-letters them back to the Trigger's queue.
    pub fn retry_queue(&self, trigger: &str, delay: std::time::Duration) -> String {
        format!("skybook.retry.{}.{}.{}ms", self.broker.namespace, trigger, delay.as_millis())
    }

    /// Puts an event aside for `delay` and back on the Trigger's queue after:
    /// the dispatcher holds no delivery while it waits. The queue is named
    /// by its delay, so a changed policy gets new queues, and it goes away
    /// once unused for longer than any message stays in it.
    pub async fn schedule_retry(
        &self,
        trigger: &str,
        delay: std::time::Duration,
        payload: &[u8],
        headers: FieldTable,
    ) -> Result<(), String> {
        let queue = self.retry_queue(trigger, delay);
        let ttl = delay.as_millis().min(u128::from(u32::MAX)) as u32;
        let mut arguments = FieldTable::default();
        arguments.insert("x-message-ttl".into(), AMQPValue::LongUInt(ttl));
        arguments
            .insert("x-expires".into(), AMQPValue::LongUInt(ttl.saturating_mul(2).saturating_add(60_000)));
        arguments.insert("x-dead-letter-exchange".into(), AMQPValue::LongString("".into()));
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(self.trigger_queue(trigger).into()),
        );
        let channel = self.publishing_channel().await?;
        channel
            .queue_declare(queue.clone().into(), QueueDeclareOptions::durable(), arguments)
            .await
            .map_err(|e| format!("RabbitMQ refused the retry queue: {e}"))?;
        self.publish_to_queue(&queue, payload, headers).await
    }

    pub async fn connect(&self) -> lapin::Result<Connection> {
        Connection::connect(
            &self.url,
            ConnectionProperties::default().with_connection_name("skybook-broker".into()),
        )
        .await
    }

    /// The exchange every event is published to; declaring it is idempotent.
    pub async fn declare_exchange(&self, channel: &Channel) -> lapin::Result<()> {
        channel
            .exchange_declare(
                self.exchange().into(),
                ExchangeKind::Headers,
                ExchangeDeclareOptions { durable: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
    }

    /// A Trigger's queue, bound so that only events matching every filter
    /// attribute reach it (`x-match: all`; no attributes: every event).
    pub async fn declare_trigger_queue(
        &self,
        channel: &Channel,
        trigger: &str,
        filter: &BTreeMap<String, String>,
    ) -> lapin::Result<String> {
        self.declare_exchange(channel).await?;
        let queue = self.trigger_queue(trigger);
        for name in [&queue, &self.dead_letter_queue(trigger)] {
            channel
                .queue_declare(name.clone().into(), QueueDeclareOptions::durable(), FieldTable::default())
                .await?;
        }
        let mut arguments = FieldTable::default();
        arguments.insert("x-match".into(), AMQPValue::LongString("all".into()));
        // An empty value matches any value: the dispatcher checks that the
        // attribute is there, which a headers binding cannot express.
        for (name, value) in filter.iter().filter(|(_, value)| !value.is_empty()) {
            arguments.insert(ShortString::from(name.clone()), AMQPValue::LongString(value.clone().into()));
        }
        channel
            .queue_bind(
                queue.clone().into(),
                self.exchange().into(),
                "".into(),
                QueueBindOptions::default(),
                arguments,
            )
            .await?;
        Ok(queue)
    }

    /// Publishes an event to the exchange and waits for RabbitMQ's confirm:
    /// `Ok` means it is on disk in every matching queue.
    pub async fn publish(&self, payload: &[u8], headers: FieldTable) -> Result<(), String> {
        let exchange = self.exchange();
        self.publish_to(&exchange, "", payload, headers).await
    }

    /// Publishes to the default exchange, straight into `queue`.
    pub async fn publish_to_queue(
        &self,
        queue: &str,
        payload: &[u8],
        headers: FieldTable,
    ) -> Result<(), String> {
        self.publish_to("", queue, payload, headers).await
    }

    async fn publish_to(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        headers: FieldTable,
    ) -> Result<(), String> {
        let channel = self.publishing_channel().await?;
        let properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_content_type("application/cloudevents+json".into())
            .with_headers(headers);
        // Publishes share the channel and wait for their confirms side by
        // side: the lock is held only to find the channel, never across I/O.
        let outcome = async {
            let confirm = channel
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    BasicPublishOptions::default(),
                    payload,
                    properties,
                )
                .await?;
            confirm.await
        }
        .await;
        match outcome {
            Ok(confirmation) if confirmation.is_ack() => Ok(()),
            Ok(_) => Err("RabbitMQ refused the event".into()),
            Err(e) => {
                let mut publisher = self.state();
                if publisher.current.as_ref().is_some_and(|(_, c)| c.id() == channel.id()) {
                    publisher.current = None;
                }
                Err(format!("RabbitMQ publish failed: {e}"))
            }
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Publisher> {
        // A panic while holding it left plain data behind: go on with it.
        self.publisher.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The publisher channel (confirms on, topology declared), reconnecting if
    /// it is gone: one request opens it and the others wait for that one
    /// attempt, never for a queue of them; after a failed attempt, requests
    /// answer at once for a while.
    async fn publishing_channel(&self) -> Result<Channel, String> {
        let attempt = {
            let mut publisher = self.state();
            if let Some(channel) = publisher.live() {
                return Ok(channel);
            }
            if publisher.connecting {
                // Created under the lock: the attempt's end cannot slip between.
                Some(self.attempted.notified())
            } else if publisher.failed_at.is_some_and(|at| at.elapsed() < RECONNECT_BACKOFF) {
                return Err("RabbitMQ unreachable: the last attempt just failed".into());
            } else {
                publisher.current = None;
                publisher.connecting = true;
                None
            }
        };
        if let Some(attempt) = attempt {
            let _ = tokio::time::timeout(CONNECT_TIMEOUT, attempt).await;
            return self.state().live().ok_or_else(|| "RabbitMQ unreachable: reconnecting".to_owned());
        }
        let _connecting = Connecting(&self.publisher, &self.attempted);
        let opened = match tokio::time::timeout(CONNECT_TIMEOUT, self.open_publisher()).await {
            Ok(opened) => opened,
            Err(_) => Err(format!("RabbitMQ unreachable: no answer in {CONNECT_TIMEOUT:?}")),
        };
        let mut publisher = self.state();
        match opened {
            Ok((conn, channel)) => {
                publisher.current = Some((conn, channel.clone()));
                publisher.failed_at = None;
                Ok(channel)
            }
            Err(e) => {
                publisher.failed_at = Some(Instant::now());
                Err(e)
            }
        }
    }

    async fn open_publisher(&self) -> Result<(Connection, Channel), String> {
        let conn = self.connect().await.map_err(|e| format!("RabbitMQ unreachable: {e}"))?;
        let channel = conn.create_channel().await.map_err(|e| e.to_string())?;
        channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| e.to_string())?;
        self.declare_exchange(&channel).await.map_err(|e| e.to_string())?;
        for (trigger, filter) in &self.triggers {
            self.declare_trigger_queue(&channel, trigger, filter).await.map_err(|e| e.to_string())?;
        }
        Ok((conn, channel))
    }

    pub async fn close(&self) {
        let current = self.state().current.take();
        if let Some((conn, _)) = current {
            let _ = conn.close(200, "bye".into()).await;
        }
    }
}
