//! Booking events from the broker's ingress to the Redis stats: throughput,
//! and the latency from a booking's reply to its stats being visible, against
//! two baselines measured in the same run: RabbitMQ alone (persistent
//! publishes with pipelined confirms, routed to as many queues as the
//! broker routes a booking event to, a consumer acking each on each, messages
//! of the same size: what RabbitMQ itself can take for the same routing)
//! and the stats script alone in redis-benchmark.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use super::{BENCH_REDIS_DB, Bench, Figure, Process, percentile, redis_url};

/// Events sent for the throughput figure, by this many senders.
const EVENTS: usize = 5000;
const SENDERS: usize = 32;
/// Bookings made one at a time for the latency figure.
const BOOKINGS: usize = 1000;

pub fn run(bench: &Bench) -> anyhow::Result<Vec<Figure>> {
    bench.seed(20)?;
    let path = event_path(bench)?;
    let booking = bench.start("create-booking", &[("K_SINK", &path.ingress)])?;
    booking.wait_listening()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let (rate, latencies) = runtime.block_on(measure(&path.ingress, booking.port, &bench.signing_key))?;
    drop((booking, path));

    // The Triggers a booking event goes to: the broker stores and delivers
    // it once for each, and RabbitMQ alone is given the same routing.
    let queues = catalogue::triggers(&catalogue::functions())
        .iter()
        .filter(|t| t.ty == domain::events::BOOKING_CREATED)
        .count();
    let rabbitmq = runtime.block_on(rabbitmq_rate(queues))?;
    let script = std::fs::read_to_string(bench.root.join("functions/stats/src/consumers/apply_booking.lua"))?;
    let baseline = redis_benchmark_rate(&script)?;
    // redis-benchmark leaves its event ids behind: leave the database empty.
    redis_cli(&["FLUSHDB"])?;
    eprintln!(
        "bench: pipeline {rate:.0} events/s, RabbitMQ alone {rabbitmq:.0}/s, redis-benchmark {baseline:.0}/s"
    );
    Ok(vec![
        Figure::against(
            format!(
                "pipeline: booking events ingress to stats applied, against RabbitMQ alone \
                 (pipelined confirms, routed to {queues} queues as the Triggers are)"
            ),
            rate,
            "events/s",
            rabbitmq,
        ),
        Figure::against("pipeline: booking events ingress to stats applied", rate, "events/s", baseline),
        Figure::plain("pipeline: booking reply to stats visible, p50", percentile(&latencies, 0.50), "ms"),
        Figure::plain("pipeline: booking reply to stats visible, p99", percentile(&latencies, 0.99), "ms"),
    ])
}

/// The path of an event, empty and listening: record-booking-stats on a
/// flushed Redis database, and the local broker routing to it as knative/
/// says.
pub fn event_path(bench: &Bench) -> anyhow::Result<EventPath> {
    redis_cli(&["FLUSHDB"])?;
    let stats = bench.start("record-booking-stats", &[])?;
    // The Triggers' other subscribers (the dead-letter sink, the rename
    // consumer) get no event here, but the broker routes to every one: the
    // hello server stands in for them.
    let others = bench.start("hello-baseline", &[])?;
    let urls: Vec<(&str, String)> = catalogue::functions()
        .iter()
        .map(|function| {
            let port = if function.name() == "record-booking-stats" { stats.port } else { others.port };
            (function.name(), format!("http://127.0.0.1:{port}"))
        })
        .collect();
    let services =
        shared::config::de::join_urls_by_name(urls.iter().map(|(name, url)| (*name, url.as_str())));
    let manifests = bench.root.join("knative").display().to_string();
    let broker = bench.start(
        "skybook-broker",
        &[("BROKER_MANIFESTS", manifests.as_str()), ("BROKER_SERVICES", services.as_str())],
    )?;
    let ingress = format!("http://127.0.0.1:{}/skybook/default", broker.port);
    for process in [&stats, &others, &broker] {
        process.wait_listening()?;
    }
    Ok(EventPath { ingress, _processes: [stats, others, broker] })
}

/// The running path of an event, stopped when dropped.
pub struct EventPath {
    pub ingress: String,
    _processes: [Process; 3],
}

async fn measure(ingress: &str, booking_port: u16, signing_key: &str) -> anyhow::Result<(f64, Vec<f64>)> {
    use shared::cloudevent::signature::Signed;
    // Signed and numbered as the outbox sends them: the consumer takes nothing else.
    let keys = crate::dev::event_keys(signing_key)?;
    let redis = redis::Client::open(redis_url())?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    // Throughput: events straight into the ingress until the stats applied every one.
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    let per_sender = EVENTS.div_ceil(SENDERS);
    for sender in 0..SENDERS {
        let (http, ingress, keys) = (http.clone(), ingress.to_owned(), keys.clone());
        senders.spawn(async move {
            for i in 0..per_sender {
                let data = json!({"id": format!("00000000-0000-4000-{sender:04x}-{i:012}"),
                                  "destination_id": format!("00000000-0000-4000-8000-{:012}", i % 20),
                                  "destination_name": format!("Bench {}", i % 20), "passenger_name": "Bench",
                                  "passenger_age": i % 90, "has_pet": i % 5 == 0, "price": {"total": "950.00"}});
                let (id, body) = (format!("bench-{sender}-{i}"), data.to_string());
                // Every event its own number, as the outbox's sequence gives them;
                // far above the numbers the bench's own bookings will draw next.
                let sequence = shared::cloudevent::sequence::format((1 << 40) + (sender * per_sender + i) as i64);
                let signature = keys.sign(Signed {
                    id: &id,
                    source: "/bench",
                    ty: "skybook.booking.created",
                    subject: None,
                    sequence: Some(&sequence),
                    data: body.as_bytes(),
                });
                let response = http
                    .post(&ingress)
                    .header("ce-specversion", "1.0")
                    .header("ce-id", &id)
                    .header("ce-source", "/bench")
                    .header("ce-type", "skybook.booking.created")
                    .header("ce-sequence", &sequence)
                    .header("ce-skybooksig", signature)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                if response.status().as_u16() != 202 {
                    bail!("ingress answered {}", response.status());
                }
            }
            Ok(())
        });
    }
    while let Some(done) = senders.join_next().await {
        done??;
    }
    let mut count = (per_sender * SENDERS) as i64;
    wait_for_count(&redis, count, Duration::from_secs(120)).await?;
    let rate = count as f64 / started.elapsed().as_secs_f64();

    // Latency: one booking at a time through create-booking, then the time
    // until its stats are visible.
    let url = format!("http://127.0.0.1:{booking_port}/");
    let mut latencies = Vec::with_capacity(BOOKINGS);
    for i in 0..BOOKINGS {
        let data = json!({"flight_id": format!("00000000-0000-4000-8000-{:012}", 1 + i % 20),
                          "passenger_name": format!("Latency {i}"), "passenger_age": 30});
        let response = http.post(&url).json(&data).send().await?;
        if !response.status().is_success() {
            bail!("create-booking answered {}", response.status());
        }
        let replied = Instant::now();
        count += 1;
        wait_for_count(&redis, count, Duration::from_secs(10)).await?;
        latencies.push(replied.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((rate, latencies))
}

async fn wait_for_count(redis: &redis::Client, expected: i64, limit: Duration) -> anyhow::Result<()> {
    let mut conn = redis.get_multiplexed_async_connection().await?;
    let started = Instant::now();
    loop {
        let count: Option<i64> =
            redis::cmd("GET").arg(stats::keys::TOTAL_BOOKINGS).query_async(&mut conn).await?;
        if count.unwrap_or(0) >= expected {
            return Ok(());
        }
        if started.elapsed() > limit {
            bail!("stats stuck at {count:?} of {expected}");
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// An event as the broker keeps it in RabbitMQ, for the baseline's size.
fn sample_event(sender: usize, i: usize) -> Vec<u8> {
    let data = json!({"id": format!("00000000-0000-4000-{sender:04x}-{i:012}"),
                      "destination_id": format!("00000000-0000-4000-8000-{:012}", i % 20),
                      "destination_name": format!("Bench {}", i % 20), "passenger_name": "Bench",
                      "passenger_age": i % 90, "has_pet": i.is_multiple_of(5), "price": {"total": "950.00"}});
    json!({"specversion": "1.0", "id": format!("bench-{sender}-{i}"), "source": "/bench",
           "type": "skybook.booking.created", "datacontenttype": "application/json", "data": data})
    .to_string()
    .into_bytes()
}

/// Messages a publisher keeps unconfirmed at most, as RabbitMQ's PerfTest
/// runs with `--confirm`: the broker confirms in batches, so a window this
/// wide measures what it can take rather than one round trip per message.
const CONFIRM_WINDOW: usize = 1000;
/// The consumer's prefetch: as wide, so delivery is no round trip either.
const PREFETCH: u16 = 1000;

/// RabbitMQ alone, the limit the pipeline is held to: EVENTS persistent
/// messages of an event's size to a durable exchange that routes each to
/// `queues` durable queues (as the broker routes a booking event to each of
/// its Triggers' queues), published with confirms pipelined (up to
/// CONFIRM_WINDOW in flight) while a consumer on each queue acks each;
/// events per second until the last is acked on every queue.
async fn rabbitmq_rate(queues: usize) -> anyhow::Result<f64> {
    use std::collections::VecDeque;

    use futures_util::StreamExt;
    use lapin::options::{
        BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
        ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
        QueueDeleteOptions,
    };
    use lapin::types::FieldTable;
    use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};

    let url = crate::services::amqp_url();
    let conn = Connection::connect(&url, ConnectionProperties::default()).await?;
    let exchange = "skybook.bench.rabbitmq-alone";
    let names: Vec<String> =
        (0..queues.max(1)).map(|n| format!("skybook.bench.rabbitmq-alone.{n}")).collect();
    let setup = conn.create_channel().await?;
    let _ = setup.exchange_delete(exchange.into(), ExchangeDeleteOptions::default()).await;
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    setup.exchange_declare(exchange.into(), ExchangeKind::Fanout, durable, FieldTable::default()).await?;
    let total = EVENTS;
    let started = Instant::now();
    let mut consumed = Vec::new();
    for queue in &names {
        let _ = setup.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await;
        setup
            .queue_declare(queue.as_str().into(), QueueDeclareOptions::durable(), FieldTable::default())
            .await?;
        setup
            .queue_bind(
                queue.as_str().into(),
                exchange.into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let consumer_channel = conn.create_channel().await?;
        consumer_channel.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
        let mut consumer = consumer_channel
            .basic_consume(
                queue.as_str().into(),
                "bench".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        consumed.push(tokio::spawn(async move {
            let mut acked = 0;
            while acked < total {
                let delivery = consumer.next().await.context("the consumer stopped")??;
                delivery.ack(BasicAckOptions::default()).await?;
                acked += 1;
            }
            anyhow::Ok(())
        }));
    }
    let publisher = conn.create_channel().await?;
    publisher.confirm_select(ConfirmSelectOptions::default()).await?;
    let mut in_flight = VecDeque::with_capacity(CONFIRM_WINDOW);
    for i in 0..total {
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/cloudevents+json".into());
        let confirm = publisher
            .basic_publish(
                exchange.into(),
                "".into(),
                BasicPublishOptions::default(),
                &sample_event(i % SENDERS, i),
                properties,
            )
            .await?;
        in_flight.push_back(confirm);
        if in_flight.len() >= CONFIRM_WINDOW
            && let Some(oldest) = in_flight.pop_front()
            && !oldest.await?.is_ack()
        {
            bail!("RabbitMQ refused a message");
        }
    }
    for confirm in in_flight {
        if !confirm.await?.is_ack() {
            bail!("RabbitMQ refused a message");
        }
    }
    for consumer in consumed {
        tokio::time::timeout(Duration::from_secs(120), consumer)
            .await
            .context("the consumer took too long")???;
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    for queue in &names {
        let _ = setup.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await;
    }
    let _ = setup.exchange_delete(exchange.into(), ExchangeDeleteOptions::default()).await;
    let _ = conn.close(200, "bye".into()).await;
    Ok(rate)
}

/// The stats script by itself: every call a random place in the stream
/// (redis-benchmark's `__rand_int__`, under 2^23, so one 1 MiB bitmap and
/// about 1% repeats), so nearly every call does the full update.
fn redis_benchmark_rate(script: &str) -> anyhow::Result<f64> {
    let sha = redis_cli(&["SCRIPT", "LOAD", script])?;
    let chunk = format!("{}bench", stats::keys::APPLIED_PREFIX);
    let destination = stats::keys::destination(&uuid::Uuid::nil());
    let output = Command::new("redis-benchmark")
        .args(["--dbnum", &BENCH_REDIS_DB.to_string(), "-c", &SENDERS.to_string(), "-n", "200000"])
        .args(["-r", "8388608", "--csv", "EVALSHA", sha.trim(), "13"])
        .args([
            stats::keys::APPLIED_FLOOR,
            chunk.as_str(),
            stats::keys::OWED,
            stats::keys::TOTAL_REVENUE_CENTS,
            stats::keys::TOTAL_BOOKINGS,
            stats::keys::PET_BOOKINGS,
            destination.as_str(),
            stats::keys::TOTAL_CANDY_COST_CENTS,
            stats::keys::TOTAL_INFANT_COUNT,
            stats::keys::CANDY_LOG,
            stats::keys::POPULARITY,
            stats::keys::RECONCILING,
            stats::keys::JOURNAL,
            "__rand_int__",
            "__rand_int__",
            "1",
            "95000",
            "1",
            "1",
            "500",
            "Reserva bench: Dulce entregado a Bench",
            "1000",
            "00000000-0000-0000-0000-000000000000",
            "Bench",
        ])
        .stderr(Stdio::null())
        .output()
        .context("redis-benchmark")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let rate = text
        .lines()
        .filter(|l| !l.starts_with("\"test\""))
        .find_map(|l| l.split(',').nth(1).map(|v| v.trim_matches('"').parse::<f64>()))
        .context("redis-benchmark printed no rate")??;
    Ok(rate)
}

pub fn redis_cli(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("redis-cli").args(["-n", &BENCH_REDIS_DB.to_string()]).args(args).output()?;
    if !output.status.success() {
        bail!("redis-cli {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
