//! The kind job fits its runner: what the pinned prerequisites ask the
//! scheduler for (scripts/cluster/budget.json, which the job checks against
//! the live cluster before trimming), plus every pod the chart's render makes
//! or makes an operator or Knative make, held under the runner's share.

mod support;

use std::collections::BTreeMap;

use serde_json::Value as Json;
use serde_norway::Value;
use support::{kind, root, with_values_and};

/// CPU in millicores, or memory in bytes, from a Kubernetes quantity.
fn quantity(value: &str) -> f64 {
    let units = [("m", 1e-3), ("Ki", 1024.0), ("Mi", 1024.0 * 1024.0), ("Gi", 1024.0 * 1024.0 * 1024.0)];
    for (unit, factor) in units {
        if let Some(number) = value.strip_suffix(unit) {
            return number.parse::<f64>().unwrap() * factor;
        }
    }
    value.parse().unwrap()
}

/// What one pod, or one container, asks for: (millicores, MiB).
#[derive(Clone, Copy, Default, PartialEq, Debug)]
struct Ask {
    cpu: f64,
    memory: f64,
}

impl Ask {
    fn of(cpu: &str, memory: &str) -> Ask {
        Ask { cpu: quantity(cpu) * 1000.0, memory: quantity(memory) / (1024.0 * 1024.0) }
    }

    /// The requests of a `resources` block (nothing asked is zero).
    fn requests(resources: &Value) -> Ask {
        let field = |name: &str| resources["requests"][name].as_str().map(str::to_owned);
        Ask::of(&field("cpu").unwrap_or("0".into()), &field("memory").unwrap_or("0".into()))
    }

    fn pod(spec: &Value) -> Ask {
        spec["containers"].as_sequence().unwrap().iter().map(|c| Ask::requests(&c["resources"])).sum()
    }

    fn times(self, n: f64) -> Ask {
        Ask { cpu: self.cpu * n, memory: self.memory * n }
    }
}

impl std::ops::Add for Ask {
    type Output = Ask;
    fn add(self, other: Ask) -> Ask {
        Ask { cpu: self.cpu + other.cpu, memory: self.memory + other.memory }
    }
}

impl std::iter::Sum for Ask {
    fn sum<I: Iterator<Item = Ask>>(iter: I) -> Ask {
        iter.fold(Ask::default(), |a, b| a + b)
    }
}

fn text(value: &Json) -> &str {
    value.as_str().unwrap()
}

fn listed(entry: &Json) -> Ask {
    Ask::of(text(&entry["cpu"]), text(&entry["memory"]))
}

/// Each pod of the render, and the pods it makes others run, by component.
fn chart_pods(objects: &[Value], budget: &Json) -> BTreeMap<String, Ask> {
    let per = &budget["perObject"];
    let queue_proxy = Ask::of(text(&budget["kind"]["queueProxyCpu"]), text(&per["queueProxy"]["memory"]));
    let mut asks: BTreeMap<String, Ask> = BTreeMap::new();
    let mut add = |what: &str, ask: Ask| {
        let part = asks.entry(what.to_owned()).or_default();
        *part = *part + ask;
    };
    let replicas = |doc: &Value, field: &str| doc["spec"][field].as_u64().unwrap_or(1) as f64;
    for doc in objects {
        let spec = &doc["spec"];
        match (doc["apiVersion"].as_str().unwrap(), kind(doc)) {
            // Knative starts each revision at one pod (initial-scale 1): all at once on install.
            ("serving.knative.dev/v1", "Service") => {
                add("functions (and queue-proxy)", Ask::pod(&spec["template"]["spec"]) + queue_proxy)
            }
            ("apps/v1", "Deployment") => {
                add("chart Deployments", Ask::pod(&spec["template"]["spec"]).times(replicas(doc, "replicas")))
            }
            ("batch/v1", "Job") => add("migration Job", Ask::pod(&spec["template"]["spec"])),
            ("postgresql.cnpg.io/v1", "Cluster") => {
                add("PostgreSQL", Ask::requests(&spec["resources"]).times(replicas(doc, "instances")))
            }
            ("postgresql.cnpg.io/v1", "Pooler") => {
                add("PgBouncer", Ask::pod(&spec["template"]["spec"]).times(replicas(doc, "instances")))
            }
            ("rabbitmq.com/v1beta1", "RabbitmqCluster") => {
                let ask = if spec["resources"].is_mapping() {
                    Ask::requests(&spec["resources"])
                } else {
                    listed(&per["rabbitmqClusterDefault"])
                };
                add("RabbitMQ", ask.times(replicas(doc, "replicas")))
            }
            ("eventing.knative.dev/v1", "Broker")
                if doc["metadata"]["annotations"]["eventing.knative.dev/broker.class"]
                    == "RabbitMQBroker" =>
            {
                add("RabbitMQ broker ingress and dispatchers", listed(&per["rabbitmqBrokerIngress"]))
            }
            ("eventing.knative.dev/v1", "Trigger") => {
                let dispatchers = if spec["delivery"]["deadLetterSink"].is_mapping() { 2.0 } else { 1.0 };
                // The Trigger's annotations, read as eventing-rabbitmq reads
                // them (utils.GetResourceRequirements), else its default.
                let annotations = &doc["metadata"]["annotations"];
                let asked =
                    |key: &str| annotations[format!("rabbitmq.eventing.knative.dev/{key}").as_str()].as_str();
                let ask = match (asked("cpu-request"), asked("memory-request")) {
                    (Some(cpu), Some(memory)) => Ask::of(cpu, memory),
                    _ => listed(&per["rabbitmqDispatcher"]),
                };
                add("RabbitMQ broker ingress and dispatchers", ask.times(dispatchers))
            }
            _ => {}
        }
    }
    asks
}

#[test]
fn what_the_kind_job_installs_fits_a_four_cpu_runner_with_room_to_spare() {
    let budget: Json =
        serde_json::from_str(&std::fs::read_to_string(root().join("scripts/cluster/budget.json")).unwrap())
            .unwrap();
    let mut parts: BTreeMap<String, Ask> = BTreeMap::new();
    parts.insert("Kubernetes (kind)".into(), budget["system"].as_array().unwrap().iter().map(listed).sum());

    // Each prerequisite's request as its pinned source sets it, CPU trimmed for kind by budget.py.
    let trimmed = Ask::of(text(&budget["kind"]["cpu"]), "0").cpu;
    for entry in budget["deployments"].as_array().unwrap() {
        let ask = listed(entry);
        let ask = Ask { cpu: ask.cpu.min(trimmed), ..ask }.times(entry["replicas"].as_f64().unwrap());
        let part = parts.entry(format!("prerequisites: {}", text(&entry["namespace"]))).or_default();
        *part = *part + ask;
    }

    // Jaeger, as the job applies it.
    let jaeger =
        support::documents(&std::fs::read_to_string(root().join("scripts/cluster/jaeger.yaml")).unwrap());
    parts.insert(
        "Jaeger".into(),
        jaeger
            .iter()
            .filter(|d| kind(d) == "Deployment")
            .map(|d| Ask::pod(&d["spec"]["template"]["spec"]))
            .sum(),
    );

    // The chart as up.sh installs it in the job.
    let render = with_values_and(
        "fresh-cluster-values.yaml",
        &[
            "--set",
            "observability.collector.enabled=true",
            "--set",
            "observability.collector.exporterEndpoint=http://jaeger.tracing.svc:4318",
        ],
    );
    parts.extend(chart_pods(&render, &budget).into_iter().map(|(what, ask)| (format!("chart: {what}"), ask)));

    let total: Ask = parts.values().copied().sum();
    let runner = &budget["runner"];
    let share = runner["share"].as_f64().unwrap();
    let room = Ask::of(text(&runner["cpu"]), text(&runner["memory"])).times(share);
    let table: String = parts
        .iter()
        .map(|(what, ask)| format!("  {what:48} {:6.0}m {:7.0}Mi\n", ask.cpu, ask.memory))
        .collect();
    println!(
        "{table}  {:48} {:6.0}m {:7.0}Mi of {:.0}m and {:.0}Mi",
        "total", total.cpu, total.memory, room.cpu, room.memory
    );
    assert!(
        total.cpu <= room.cpu && total.memory <= room.memory,
        "the kind job asks for {:.0}m CPU and {:.0}Mi, past {:.0}% of the runner:\n{table}",
        total.cpu,
        total.memory,
        share * 100.0
    );

    // Each function asks what a Rust function uses, not a default's guess.
    let functions = render.iter().filter(|d| d["apiVersion"] == "serving.knative.dev/v1").count();
    let per_function = parts["chart: functions (and queue-proxy)"].times(1.0 / functions as f64);
    assert!(functions >= 20 && per_function.memory <= 32.0, "{functions} functions, {per_function:?} each");
}
