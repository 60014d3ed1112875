//! The conformance suite: one test per MUST (and the SHOULDs kept) of the
//! CloudEvents spec (`spec.md`), its HTTP binding, its JSON format, and
//! Knative Eventing's data plane (and the Trigger filter of its control
//! plane), wherever they bind a producer, a consumer or a broker. Each test
//! quotes its sentence. They run against the real broker on RabbitMQ and
//! real functions; what the project does on purpose otherwise is said in
//! `docs/architecture.md`.

mod data_plane;
mod http_binding;
mod json_format;
mod spec;

use serde_json::{Value, json};
use shared::testing::{ReadResponse, Received, TestApp, TestRedis, TestSink};

use crate::helpers::{TestBroker, eventually};

pub const CREATED: &str = "skybook.booking.created";

/// A broker whose booking Trigger delivers to `stats`, whose dead letters go
/// to `dead`, with a Trigger for `skybook.conformance` events that have a
/// `team` (any value), delivering to `any`, and one for
/// `skybook.conformance.replied` delivering to `replies`, and one with the
/// `filters` dialects (see [`FILTERS`]) delivering to `filtered`. One event
/// in flight per Trigger, so each Trigger delivers in order.
pub struct Rig {
    pub broker: TestBroker,
    pub stats: TestSink,
    pub dead: TestSink,
    pub any: TestSink,
    pub replies: TestSink,
    pub filtered: TestSink,
}

/// A Trigger's `filters`: types under `skybook.filters.` but not ending in
/// `.internal`, about Lima, or about Cusco from a source ending in
/// `/bookings`. Its legacy `filter` (which would match nothing the tests
/// send) is set too: `filters` takes precedence.
pub const FILTERS: &str = r#"
  filter:
    attributes:
      type: never.sent
  filters:
    - prefix: {type: skybook.filters.}
    - not: {suffix: {type: .internal}}
    - any:
        - exact: {subject: lima}
        - all: [{exact: {subject: cusco}}, {suffix: {source: /bookings}}]
"#;

pub const REPLIED: &str = "skybook.conformance.replied";

impl Rig {
    pub async fn start() -> Rig {
        let (stats, dead, any) = (TestSink::start().await, TestSink::start().await, TestSink::start().await);
        let (replies, filtered) = (TestSink::start().await, TestSink::start().await);
        let extra = r#"
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: conformance-any-team
  namespace: NAMESPACE
spec:
  broker: default
  filter:
    attributes:
      type: skybook.conformance
      team: ""
  subscriber:
    uri: ANY
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: conformance-replies
  namespace: NAMESPACE
spec:
  broker: default
  filter:
    attributes:
      type: skybook.conformance.replied
  subscriber:
    uri: REPLIES
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: conformance-filters
  namespace: NAMESPACE
spec:
  broker: default
FILTERS
  subscriber:
    uri: FILTERED
"#
        .replace("ANY", &any.url)
        .replace("REPLIES", &replies.url)
        .replace("FILTERS\n", FILTERS.trim_start_matches('\n'))
        .replace("FILTERED", &filtered.url);
        let broker = TestBroker::start_with(
            1,
            "PT0.01S",
            &extra,
            &[("record-booking-stats", &stats.url), ("store-dead-letter", &dead.url)],
            &[("BROKER_INFLIGHT", "1")],
        )
        .await;
        Rig { broker, stats, dead, any, replies, filtered }
    }

    /// POSTs to the ingress as given.
    pub async fn post(&self, headers: &[(&str, &[u8])], body: &[u8]) -> Answer {
        post(&self.broker.ingress, headers, body).await
    }

    /// The one event the stats Trigger delivered, waiting for it.
    pub async fn delivered(&self) -> Received {
        eventually(10, "the delivery", || async { !self.stats.received().is_empty() }).await;
        self.stats.received().remove(0)
    }
}

/// An HTTP answer: what the tests look at.
pub struct Answer {
    pub status: u16,
}

/// A POST with header values given as raw bytes (quoted strings, bytes past ASCII).
pub async fn post(url: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Answer {
    let mut request = reqwest::Client::new().post(url).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, http::HeaderValue::from_bytes(value).expect("a header value"));
    }
    let response = request.send().await.expect("the request reached the server");
    Answer { status: response.status().as_u16() }
}

/// A binary-mode booking event's headers, with `changes` applied (an empty
/// value removes a header).
pub fn binary<'a>(changes: &[(&'a str, &'a [u8])]) -> Vec<(&'a str, &'a [u8])> {
    let mut headers: Vec<(&str, &[u8])> = vec![
        ("ce-specversion", b"1.0"),
        ("ce-id", b"conformance-1"),
        ("ce-source", b"/conformance"),
        ("ce-type", CREATED.as_bytes()),
        // Its place in the producer's stream, by which the stats consumer
        // knows an event it has applied.
        ("ce-sequence", b"0000000000000000001"),
        ("content-type", b"application/json"),
    ];
    for (name, value) in changes {
        headers.retain(|(n, _)| n != name);
        headers.push((name, value));
    }
    headers
}

/// Data a booking consumer takes.
pub fn booking() -> Vec<u8> {
    json!({"id": "0191d9d2-0000-7000-8000-00000000c0f0", "destination_id": "0191d9d2-0000-7000-8000-0000000000d1",
           "destination_name": "Lima", "passenger_name": "Ana", "passenger_age": 30, "has_pet": false,
           "price": {"total": "10.00"}})
    .to_string()
    .into_bytes()
}

/// A consumer function of the project (record-booking-stats) on a Redis database of its own.
pub async fn consumer() -> (TestApp, TestRedis) {
    let redis = TestRedis::new().await;
    let app = TestApp::spawn_with(
        stats::consumers::record_booking_stats::function(),
        &[("redis_url", redis.url.as_str())],
    )
    .await;
    (app, redis)
}

/// A structured-mode request body.
pub fn structured(event: &Value) -> (Vec<(&'static str, &'static [u8])>, Vec<u8>) {
    (vec![("content-type", b"application/cloudevents+json")], event.to_string().into_bytes())
}

/// How many bookings the consumer counted.
pub async fn counted(redis: &TestRedis) -> i64 {
    let mut conn = redis.conn().await;
    let n: Option<i64> =
        redis::cmd("GET").arg(stats::keys::TOTAL_BOOKINGS).query_async(&mut conn).await.expect("redis");
    n.unwrap_or(0)
}

/// The function's answer to a request as given.
pub async fn to_function(app: &TestApp, headers: &[(&str, &[u8])], body: &[u8]) -> u16 {
    let mut request = app.post().body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, http::HeaderValue::from_bytes(value).expect("a header value"));
    }
    request.send().await.read().await.status
}
