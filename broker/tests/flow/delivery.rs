//! Delivery by the Trigger's rules: retries, dead letters, filters, replies, crashes.

use std::collections::HashSet;

use base64::Engine;
use serde_json::json;
use shared::testing::{TcpProxy, TestSink};

use crate::helpers::{TestBroker, amqp_url, eventually};

const CREATED: &str = "skybook.booking.created";

/// A broker whose booking Trigger delivers to `stats` and dead-letters to
/// `dead`, both test sinks, retrying `retry` times from `backoff`.
async fn broker_to_sinks(
    retry: u32,
    backoff: &str,
    env: &[(&str, &str)],
) -> (TestBroker, TestSink, TestSink) {
    let (stats, dead) = (TestSink::start().await, TestSink::start().await);
    let sinks = [("record-booking-stats", stats.url.as_str()), ("store-dead-letter", dead.url.as_str())];
    let broker = TestBroker::start_with(retry, backoff, "", &sinks, env).await;
    (broker, stats, dead)
}

/// A broker whose booking Trigger delivers to `stats`, reaching RabbitMQ
/// through a proxy the test cuts, stalls and restores.
async fn behind_a_proxy(stats: &TestSink) -> (TestBroker, TcpProxy) {
    let proxy = TcpProxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let via_proxy = amqp_url().replace("127.0.0.1:5672", &proxy.addr.to_string());
    let sinks = [("record-booking-stats", stats.url.as_str())];
    let broker = TestBroker::start_with(1, "PT0.01S", "", &sinks, &[("AMQP_URL", &via_proxy)]).await;
    (broker, proxy)
}

#[tokio::test]
async fn a_subscriber_failing_with_500_is_retried_then_dead_lettered_with_the_error() {
    let (broker, stats, dead) = broker_to_sinks(2, "PT0.01S", &[]).await;
    stats.answer(500);

    assert_eq!(broker.send(CREATED, "e-500", &json!({"n": 1})).await, 202);

    eventually(10, "the dead letter", || async { dead.received().len() == 1 }).await;
    assert_eq!(stats.attempts(), 3, "one delivery and two retries");
    let letter = &dead.received()[0];
    assert_eq!(letter.header("ce-id"), Some("e-500"));
    assert_eq!(letter.header("ce-knativeerrorcode"), Some("500"));
    assert_eq!(letter.header("ce-knativeerrordest"), Some(stats.url.as_str()));
    let data = base64::engine::general_purpose::STANDARD
        .decode(letter.header("ce-knativeerrordata").unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(data).unwrap(), "sink failing");
    assert_eq!(letter.json(), json!({"n": 1}));
    eventually(5, "the count of dead letters", || async { broker.deliveries("dead_lettered").await == 1 })
        .await;
    assert_eq!(broker.deliveries("retry_scheduled").await, 2);
    assert_eq!(broker.deliveries("parked").await, 0);
}

/// A delivery waiting out its back-off holds no prefetch slot: with one
/// event in flight at most, the next event is delivered before the first
/// one's retry, and the retry count survives the round trip through
/// RabbitMQ's delay queue.
#[tokio::test]
async fn an_event_waiting_to_be_retried_does_not_hold_up_the_next() {
    let (broker, stats, dead) = broker_to_sinks(2, "PT2S", &[("BROKER_INFLIGHT", "1")]).await;
    stats.answer_for("ce-id", "e-slow", 503);
    assert_eq!(broker.send(CREATED, "e-slow", &json!({"n": 1})).await, 202);
    eventually(10, "the first attempt", || async { stats.attempts() == 1 }).await;
    assert_eq!(broker.send(CREATED, "e-fast", &json!({"n": 2})).await, 202);
    let received = stats.wait_for(1).await;
    assert_eq!(received[0].header("ce-id"), Some("e-fast"));
    assert_eq!(stats.attempts(), 2, "e-fast went first, while e-slow waits out its back-off");
    // e-slow: retried twice (after 2 s, then 4 s), then dead-lettered.
    eventually(20, "the dead letter", || async { dead.received().len() == 1 }).await;
    assert_eq!(stats.attempts(), 4);
    assert_eq!(dead.received()[0].header("ce-id"), Some("e-slow"));
}

/// A dead-letter sink that fails is retried through the delay queues, as a
/// delivery is: with one event in flight at most, the next event goes while
/// the refused one waits to be dead-lettered again, and the refused one
/// reaches the sink, once, when it answers.
#[tokio::test]
async fn a_failing_dead_letter_sink_is_retried_without_holding_up_the_trigger() {
    let (broker, stats, dead) = broker_to_sinks(3, "PT1S", &[("BROKER_INFLIGHT", "1")]).await;
    stats.answer_for("ce-id", "e-poison", 400);
    dead.answer(503);
    assert_eq!(broker.send(CREATED, "e-poison", &json!({"n": 1})).await, 202);
    eventually(10, "the sink's first attempt", || async { dead.attempts() == 1 }).await;
    assert_eq!(broker.send(CREATED, "e-next", &json!({"n": 2})).await, 202);
    let received = stats.wait_for(1).await;
    assert_eq!(received[0].header("ce-id"), Some("e-next"));
    assert!(dead.attempts() < 4, "e-next went while e-poison waits out the sink's back-off");

    dead.answer(202);
    eventually(20, "the dead letter", || async { dead.received().len() == 1 }).await;
    let letter = &dead.received()[0];
    assert_eq!(
        (letter.header("ce-id"), letter.header("ce-knativeerrorcode")),
        (Some("e-poison"), Some("400"))
    );
    assert!(broker.deliveries("dead_letter_retry_scheduled").await >= 1);
    eventually(5, "the count of dead letters", || async { broker.deliveries("dead_lettered").await == 1 })
        .await;
    assert_eq!(broker.deliveries("parked").await, 0);
}

#[tokio::test]
async fn a_400_is_dead_lettered_without_retries() {
    let (broker, stats, dead) = broker_to_sinks(5, "PT0.01S", &[]).await;
    stats.answer(400);
    assert_eq!(broker.send(CREATED, "e-400", &json!({})).await, 202);
    eventually(10, "the dead letter", || async { dead.received().len() == 1 }).await;
    assert_eq!(stats.attempts(), 1);
    assert_eq!(dead.received()[0].header("ce-knativeerrorcode"), Some("400"));
}

#[tokio::test]
async fn filters_keep_other_event_types_away() {
    let stats = TestSink::start().await;
    let broker = TestBroker::start(1, "PT0.01S", "", &[("record-booking-stats", &stats.url)]).await;
    assert_eq!(broker.send("skybook.flight.created", "other", &json!({})).await, 202);
    assert_eq!(broker.send("skybook.destination.created", "other-2", &json!({})).await, 202);
    assert_eq!(broker.send(CREATED, "mine", &json!({})).await, 202);
    assert_eq!(broker.send("skybook.booking.cancelled", "mine-too", &json!({})).await, 202);
    eventually(10, "both booking events", || async { stats.received().len() == 2 }).await;
    let ids: HashSet<String> =
        stats.received().iter().map(|e| e.header("ce-id").unwrap().to_owned()).collect();
    assert_eq!(ids, HashSet::from(["mine".to_owned(), "mine-too".to_owned()]));
}

#[tokio::test]
async fn reply_events_are_routed_back_into_the_broker() {
    let stats = TestSink::start().await;
    stats.reply_with("skybook.test.replied");
    // A reply comes with a 200; an event in a 202 is not one.
    stats.answer(200);
    let replies = TestSink::start().await;
    let extra = r#"
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: replies
  namespace: NAMESPACE
spec:
  broker: default
  filter:
    attributes:
      type: skybook.test.replied
  subscriber:
    uri: REPLIES
"#
    .replace("REPLIES", &replies.url);
    let broker = TestBroker::start(1, "PT0.01S", &extra, &[("record-booking-stats", &stats.url)]).await;
    assert_eq!(broker.send(CREATED, "asks-a-reply", &json!({})).await, 202);
    eventually(10, "the reply", || async { replies.received().len() == 1 }).await;
    assert_eq!(replies.received()[0].header("ce-type"), Some("skybook.test.replied"));
}

/// Every attribute travels as an AMQP header, and the headers must fit in
/// one frame: an attribute past its limit is refused with the limit named,
/// before it reaches RabbitMQ, and the publishing connection the other
/// events share goes on.
#[tokio::test]
async fn an_attribute_past_its_limit_is_400_and_the_next_events_still_flow() {
    let (broker, stats, _dead) = broker_to_sinks(1, "PT0.01S", &[]).await;
    assert_eq!(broker.send(CREATED, "before", &json!({})).await, 202);
    let structured = |extra: (&str, String)| {
        let mut event = json!({
            "specversion": "1.0", "id": uuid::Uuid::new_v4().to_string(), "source": "/tests",
            "type": CREATED, "datacontenttype": "application/json", "data": {},
        });
        event[extra.0] = json!(extra.1);
        reqwest::Client::new()
            .post(&broker.ingress)
            .header("content-type", "application/cloudevents+json")
            .body(event.to_string())
            .send()
    };
    let huge = "x".repeat(200 * 1024);
    let subject = structured(("subject", huge.clone())).await.unwrap();
    assert_eq!(subject.status(), 400);
    let body = subject.text().await.unwrap();
    assert!(
        body.contains("attribute_too_long") && body.contains("subject is 204800 bytes; at most 256"),
        "{body}"
    );
    let extension = structured(("bigext", huge)).await.unwrap();
    assert_eq!(extension.status(), 400);
    assert!(extension.text().await.unwrap().contains("bigext is 204800 bytes; at most 1024"));

    for id in ["after-1", "after-2"] {
        assert_eq!(broker.send(CREATED, id, &json!({})).await, 202);
    }
    let delivered: HashSet<String> =
        stats.wait_for(3).await.iter().map(|e| e.header("ce-id").unwrap().to_owned()).collect();
    assert_eq!(delivered, HashSet::from(["before", "after-1", "after-2"].map(String::from)));
}

/// A RabbitMQ that takes the connection and never answers: the request that
/// reconnects gives up at the connect timeout, and the others wait for that
/// one attempt, not a queue of them, then answer 503; none hangs, and the
/// broker recovers.
#[tokio::test]
async fn a_rabbitmq_that_never_answers_is_503s_not_requests_left_hanging() {
    let stats = TestSink::start().await;
    let (broker, proxy) = behind_a_proxy(&stats).await;
    assert_eq!(broker.send(CREATED, "before", &json!({})).await, 202);

    proxy.stall();
    // The connection the publisher held is gone: the first publish finds out.
    assert_eq!(broker.send(CREATED, "finds-it-gone", &json!({})).await, 503);
    // Far past the connect timeout: a request that waits this long has hung.
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build().unwrap();
    let sends = (0..10).map(|i| {
        shared::testing::binary_event(
            client.post(&broker.ingress),
            CREATED,
            "/tests",
            &format!("stalled-{i}"),
            &json!({}),
        )
        .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.expect("an answer, not a hung request").status().as_u16())
        .collect();
    assert_eq!(statuses, vec![503; 10]);

    proxy.restore();
    eventually(20, "RabbitMQ answering again", || async {
        broker.send(CREATED, &uuid::Uuid::new_v4().to_string(), &json!({})).await == 202
    })
    .await;
}

#[tokio::test]
async fn malformed_events_are_400_and_rabbitmq_down_is_503() {
    let stats = TestSink::start().await;
    let (broker, proxy) = behind_a_proxy(&stats).await;
    let client = reqwest::Client::new();
    let missing_type = client
        .post(&broker.ingress)
        .header("ce-specversion", "1.0")
        .header("ce-id", "x")
        .header("ce-source", "/tests")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(missing_type.status(), 400);
    let not_an_event = client
        .post(&broker.ingress)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(not_an_event.status(), 400);

    assert_eq!(broker.send(CREATED, "before", &json!({})).await, 202);
    proxy.cut();
    assert_eq!(broker.send(CREATED, "while-down", &json!({})).await, 503);
    proxy.restore();
    eventually(10, "RabbitMQ back", || async {
        broker.send(CREATED, &uuid::Uuid::new_v4().to_string(), &json!({})).await == 202
    })
    .await;
}

#[tokio::test]
async fn events_queued_when_the_broker_is_killed_are_all_delivered_after_restart() {
    let stats = TestSink::start().await;
    stats.answer(503);
    let mut broker = TestBroker::start(50, "PT0.2S", "", &[("record-booking-stats", &stats.url)]).await;
    for i in 0..100 {
        assert_eq!(broker.send(CREATED, &format!("q-{i}"), &json!({"i": i})).await, 202);
    }
    eventually(10, "first attempts", || async { stats.attempts() >= 10 }).await;
    broker.process.kill();
    stats.answer(202);
    broker.process.restart().await;
    eventually(30, "all 100 events", || async {
        stats.received().iter().map(|e| e.header("ce-id").unwrap().to_owned()).collect::<HashSet<_>>().len()
            == 100
    })
    .await;
}

#[tokio::test]
async fn a_body_trickled_past_the_deadline_is_408_and_queues_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (broker, stats, _dead) = broker_to_sinks(0, "PT0.01S", &[("BODY_TIMEOUT_MS", "300")]).await;
    let path = format!("/{}/default", broker.namespace);
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", broker.process.port)).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: broker\r\nce-specversion: 1.0\r\nce-id: slow\r\nce-source: /tests\r\n\
         ce-type: {CREATED}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"n\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut response = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .expect("the ingress kept the connection open")
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    // Nothing went in.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(stats.attempts(), 0);
}

#[tokio::test]
async fn a_message_that_is_no_event_is_kept_in_the_dead_letter_queue_not_dropped() {
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
    let (broker, stats, _dead) = broker_to_sinks(0, "PT0.01S", &[]).await;
    // The broker declares its queues as it starts consuming.
    let queue = format!("skybook.trigger.{}.booking-created-to-stats", broker.namespace);
    let conn = lapin::Connection::connect(&amqp_url(), Default::default()).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
    // A passive declare of a missing queue closes its channel: one channel per look.
    eventually(10, "the trigger's queue", || async {
        let Ok(look) = conn.create_channel().await else { return false };
        look.queue_declare(
            queue.clone().into(),
            lapin::options::QueueDeclareOptions { passive: true, ..Default::default() },
            lapin::types::FieldTable::default(),
        )
        .await
        .is_ok()
    })
    .await;
    let garbage = b"\x00not an event at all\xff";
    channel
        .basic_publish(
            "".into(),
            queue.clone().into(),
            BasicPublishOptions::default(),
            garbage,
            lapin::BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let kept = broker.dead_letter_queued(&conn).await.expect("the unreadable message was dropped, not kept");
    assert_eq!(kept.delivery.data, garbage, "kept as it came");
    let error =
        match kept.delivery.properties.headers().as_ref().and_then(|h| h.inner().get("x-skybook-error")) {
            Some(lapin::types::AMQPValue::LongString(text)) => {
                String::from_utf8_lossy(text.as_bytes()).into_owned()
            }
            other => panic!("no error header: {other:?}"),
        };
    assert!(error.starts_with("unreadable: "), "{error}");
    assert_eq!(stats.attempts(), 0);
    let _ = conn.close(200, "bye".into()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_delivery_under_way_finish_so_it_is_not_delivered_again() {
    let (mut broker, stats, dead) = broker_to_sinks(2, "PT0.01S", &[]).await;
    // A slow subscriber: the delivery is under way when the broker is stopped.
    stats.delay(std::time::Duration::from_millis(1500));
    assert_eq!(broker.send(CREATED, "e-drain", &json!({"n": 1})).await, 202);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let status = broker.process.terminate();
    assert!(status.success(), "{status}");
    assert_eq!(stats.received().len(), 1, "the delivery under way finished before the broker stopped");

    // Started again, the broker has nothing left to deliver.
    stats.delay(std::time::Duration::ZERO);
    broker.process.restart().await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(stats.received().len(), 1, "delivered again after a graceful stop");
    assert!(dead.received().is_empty());
}

#[tokio::test]
async fn a_failing_dead_letter_sink_is_retried_then_the_event_is_parked_not_requeued_forever() {
    let (broker, stats, dead) = broker_to_sinks(2, "PT0.01S", &[]).await;
    stats.answer(400);
    dead.answer(500);
    assert_eq!(broker.send(CREATED, "e-park", &json!({"n": 1})).await, 202);
    let conn = lapin::Connection::connect(&amqp_url(), Default::default()).await.unwrap();
    let parked = broker.dead_letter_queued(&conn).await.expect("the event was not parked");
    let text = String::from_utf8_lossy(&parked.delivery.data).into_owned();
    assert!(text.contains("e-park") && text.contains("knativeerrorcode"), "{text}");
    // One try and two retries of the sink, as the Trigger's policy says; then nothing more.
    assert_eq!(dead.attempts(), 3);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(dead.attempts(), 3, "the event went round again");
    assert_eq!(stats.attempts(), 1, "a 400 is not retried");
    assert_eq!(broker.deliveries("parked").await, 1);
    assert_eq!(broker.deliveries("dead_lettered").await, 0, "parked is not also counted as dead-lettered");
    let _ = conn.close(200, "bye".into()).await;
}
