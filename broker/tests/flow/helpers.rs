//! A broker per test, in a namespace of its own (so its exchange and queues
//! are its own), reading the project's real manifests.

use std::path::PathBuf;

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use serde_json::{Value, json};
use shared::testing::{ReadResponse, TestProcess, binary, binary_event};

pub fn amqp_url() -> String {
    <broker::Config as shared::config::Section>::from_env("amqp_url")
}

pub struct TestBroker {
    pub process: TestProcess,
    pub namespace: String,
    pub ingress: String,
    triggers: Vec<String>,
    /// Takes (202) what goes to the consumers a test does not name.
    _elsewhere: shared::testing::TestSink,
}

impl TestBroker {
    /// The project's eventing manifests with the namespace, retries and
    /// backoff replaced, plus `extra` manifests; `services` name the URLs.
    pub async fn start(retry: u32, backoff: &str, extra: &str, services: &[(&str, &str)]) -> TestBroker {
        Self::start_with(retry, backoff, extra, services, &[]).await
    }

    pub async fn start_with(
        retry: u32,
        backoff: &str,
        extra: &str,
        services: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> TestBroker {
        let namespace = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let dir = std::env::temp_dir().join(format!("skybook-manifests-{namespace}"));
        std::fs::create_dir_all(&dir).unwrap();
        let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../knative/eventing");
        let mut triggers = Vec::new();
        for entry in std::fs::read_dir(source).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace("namespace: skybook", &format!("namespace: {namespace}"))
                .replace("retry: 10", &format!("retry: {retry}"))
                .replace("backoffDelay: PT1S", &format!("backoffDelay: {backoff}"));
            std::fs::write(dir.join(path.file_name().unwrap()), text).unwrap();
        }
        let extra = extra.replace("NAMESPACE", &namespace);
        std::fs::write(dir.join("extra.yaml"), &extra).unwrap();
        for text in
            std::fs::read_dir(&dir).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        {
            let mut in_trigger = false;
            for line in text.lines() {
                if line.starts_with("kind:") {
                    in_trigger = line.contains("Trigger");
                }
                if in_trigger && let Some(name) = line.strip_prefix("  name: ") {
                    triggers.push(name.trim().to_owned());
                    in_trigger = false;
                }
            }
        }
        // Consumers a test does not name take what reaches them, as the
        // other subscribers of a type do while a test watches one; a
        // dead-letter sink it does not name is an address nothing listens on.
        let elsewhere = shared::testing::TestSink::start().await;
        let consumers: Vec<(String, String)> = catalogue::functions()
            .iter()
            .filter(|f| f.function.kind == shared::Kind::Consumer)
            .map(|f| {
                let url = if f.name() == "store-dead-letter" {
                    "http://127.0.0.1:9"
                } else {
                    elsewhere.url.as_str()
                };
                (f.name().to_owned(), url.to_owned())
            })
            .collect();
        let unnamed = consumers
            .iter()
            .map(|(name, url)| (name.as_str(), url.as_str()))
            .filter(|(name, _)| !services.iter().any(|(given, _)| given == name));
        let services = shared::config::de::join_urls_by_name(services.iter().copied().chain(unnamed));
        let mut all_env = vec![
            ("AMQP_URL", amqp_url()),
            ("BROKER_MANIFESTS", dir.display().to_string()),
            ("BROKER_SERVICES", services),
        ];
        all_env.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
        let all_env: Vec<(&str, &str)> = all_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let process = TestProcess::start(binary("skybook-broker"), &[], &all_env).await;
        let ingress = format!("{}/{namespace}/default", process.url);
        TestBroker { process, namespace, ingress, triggers, _elsewhere: elsewhere }
    }

    /// POSTs a binary-mode event to the ingress; the status it answered.
    pub async fn send(&self, ty: &str, id: &str, data: &Value) -> u16 {
        binary_event(reqwest::Client::new().post(&self.ingress), ty, "/tests", id, data)
            .send()
            .await
            .read()
            .await
            .status
    }
}

impl TestBroker {
    /// How many of the booking-created Trigger's deliveries ended in `outcome`,
    /// as the broker's /metrics counts them.
    pub async fn deliveries(&self, outcome: &str) -> u64 {
        let text = reqwest::get(format!("{}/metrics", self.process.url)).await.unwrap().text().await.unwrap();
        let series = format!(
            "skybook_broker_deliveries_total{{trigger=\"booking-created-to-stats\",outcome=\"{outcome}\"}} "
        );
        text.lines().find_map(|l| l.strip_prefix(&series)).map_or(0, |v| v.parse().unwrap())
    }

    /// The next message in the booking-created Trigger's dead-letter queue,
    /// waiting up to 15 s for one; taken off the queue. The queue may not
    /// exist yet (the dispatcher declares it when it first needs it), and a
    /// get from a missing queue closes its channel: one channel per look.
    pub async fn dead_letter_queued(
        &self,
        connection: &lapin::Connection,
    ) -> Option<lapin::message::BasicGetMessage> {
        let queue = format!("skybook.dead-letter.{}.booking-created-to-stats", self.namespace);
        for _ in 0..300 {
            let options = lapin::options::BasicGetOptions { no_ack: true };
            if let Ok(channel) = connection.create_channel().await
                && let Ok(Some(message)) = channel.basic_get(queue.clone().into(), options).await
            {
                let _ = channel.close(200, "bye".into()).await;
                return Some(message);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.process.kill();
        // Leave RabbitMQ as it was: this namespace's exchange and queues go.
        let (namespace, triggers) = (self.namespace.clone(), std::mem::take(&mut self.triggers));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let Ok(conn) = lapin::Connection::connect(&amqp_url(), Default::default()).await else {
                    return;
                };
                let Ok(channel) = conn.create_channel().await else { return };
                for trigger in triggers {
                    for queue in [
                        format!("skybook.trigger.{namespace}.{trigger}"),
                        format!("skybook.dead-letter.{namespace}.{trigger}"),
                    ] {
                        let _ = channel.queue_delete(queue.into(), QueueDeleteOptions::default()).await;
                    }
                }
                let exchange = format!("skybook.broker.{namespace}.default");
                let _ = channel.exchange_delete(exchange.into(), ExchangeDeleteOptions::default()).await;
                let _ = conn.close(200, "bye".into()).await;
            });
        })
        .join()
        .ok();
    }
}

/// Waits until `check` holds, up to `seconds`; panics with `what` otherwise.
pub async fn eventually<F, Fut>(seconds: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The booking commands on a database of their own, publishing to a sink.
pub struct Bookings {
    _db: shared::testing::TestDb,
    flight: String,
    book: shared::testing::TestApp,
}

impl Bookings {
    pub async fn start(sink: &str) -> Bookings {
        use shared::testing::{TestApp, TestDb};
        let db = TestDb::new().await;
        let destinations = TestApp::spawn(destinations::commands::create_destination::function(), &db).await;
        let url = db.url();
        // The flight's own event goes through the broker too (to the read model).
        let flights = TestApp::spawn_with(
            flights::commands::create_flight::function(),
            &[("database_url", url.as_str()), ("k_sink", sink)],
        )
        .await;
        let book = TestApp::spawn_with(
            bookings::commands::create_booking::function(),
            &[("database_url", url.as_str()), ("k_sink", sink)],
        )
        .await;
        let d = destinations
            .json(
                &json!({"name": "Lima", "tax_amount": "1", "is_promotion": false, "allows_pets": true}),
                None,
            )
            .await
            .expect(200)
            .json();
        let f = flights
            .json(
                &json!({"destination_id": d["id"], "flight_number": "CF1", "base_price": "10",
                        "departure_at": "2099-01-01T00:00:00Z", "capacity": 10}),
                None,
            )
            .await
            .expect(200)
            .json();
        Bookings { _db: db, flight: f["id"].as_str().unwrap().to_owned(), book }
    }

    /// Two bookings, hence two events.
    pub async fn book_twice(&self) {
        for name in ["Ana", "Eva"] {
            let data = json!({"flight_id": self.flight, "passenger_name": name, "passenger_age": 30, "has_pet": false});
            self.book.json(&data, None).await.expect(200);
        }
    }
}
