//! A function's func.yaml, written from its Knative Service as the chart
//! renders it for knative/: what `func deploy` (func 1.19) replaces on the
//! Service it updates (labels, revision annotations by its scale options,
//! env and envFrom, resources, containerConcurrency, the ServiceAccount) is
//! set here to what the chart set, so redeploying one function keeps its
//! configuration. Triggers stay the chart's: no `subscriptions`, which func
//! would turn into Triggers of its own, without retries or a dead-letter sink.

use std::fmt::Write as _;

use anyhow::{Context, bail};
use serde_norway::{Mapping, Value};

const HEADER: &str = "\
# Generated from knative/services/<name>.yaml (the chart) by `cargo xtask manifests`. Do not edit.
# For Knative Functions: `func deploy --build=false --push=false --image <image>@sha256:<digest>`
# redeploys this function with the configuration the chart gives it (see the README).
";

/// The autoscaling annotations func sets from `deploy.options.scale`.
const SCALE: [(&str, &str); 4] = [
    ("autoscaling.knative.dev/min-scale", "min"),
    ("autoscaling.knative.dev/max-scale", "max"),
    ("autoscaling.knative.dev/metric", "metric"),
    ("autoscaling.knative.dev/target", "target"),
];

/// Revision annotations func cannot set: it puts `deploy.annotations` on the
/// Service's own metadata too, where Knative refuses autoscaling keys. The
/// class lost is Knative's default, the KPA; a ticked function that loses its
/// window keeps Knative's 60 s one and never reaches zero.
const NOT_KEPT: [&str; 2] = ["autoscaling.knative.dev/class", "autoscaling.knative.dev/window"];

fn map(entries: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    Value::Mapping(entries.into_iter().map(|(k, v)| (Value::from(k), v)).collect::<Mapping>())
}

/// func.yaml for the function this rendered Knative Service runs.
pub fn from_service(service: &Value) -> anyhow::Result<String> {
    let name = service["metadata"]["name"].as_str().context("a Service without a name")?;
    let template = &service["spec"]["template"];
    let pod = &template["spec"];
    let container = &pod["containers"][0];

    let mut annotations_lost = Vec::new();
    let mut scale = Mapping::new();
    for (key, value) in template["metadata"]["annotations"].as_mapping().into_iter().flatten() {
        let key = key.as_str().context("annotation key")?;
        let value = value.as_str().context("annotation value")?;
        match SCALE.iter().find(|(annotation, _)| *annotation == key) {
            Some((_, "metric")) => scale.insert("metric".into(), value.into()),
            Some((_, field @ ("min" | "max"))) => scale.insert((*field).into(), value.parse::<i64>()?.into()),
            Some((_, field)) => scale.insert((*field).into(), value.parse::<f64>()?.into()),
            None if NOT_KEPT.contains(&key) => {
                if value != "kpa.autoscaling.knative.dev" {
                    annotations_lost.push(format!("# func deploy drops {key}: {value}"));
                }
                None
            }
            None => bail!("{name}: func deploy cannot keep the revision annotation {key}"),
        };
    }

    let mut resources = Mapping::new();
    for part in ["requests", "limits"] {
        let mut quantities = Mapping::new();
        for field in ["cpu", "memory"] {
            if let Some(q) = container["resources"][part][field].as_str() {
                quantities.insert(field.into(), q.into());
            }
        }
        if part == "limits"
            && let Some(concurrency) = pod["containerConcurrency"].as_i64()
        {
            quantities.insert("concurrency".into(), concurrency.into());
        }
        if !quantities.is_empty() {
            resources.insert(part.into(), Value::Mapping(quantities));
        }
    }

    let labels: Vec<Value> = service["metadata"]["labels"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(key, _)| !key.as_str().is_some_and(|k| k.starts_with("function.knative.dev/")))
        .map(|(key, value)| map([("key", key.clone()), ("value", value.clone())]))
        .collect();

    let mut envs = Vec::new();
    for source in container["envFrom"].as_sequence().into_iter().flatten() {
        let (kind, name) =
            match (source["configMapRef"]["name"].as_str(), source["secretRef"]["name"].as_str()) {
                (Some(map), _) => ("configMap", map),
                (_, Some(secret)) => ("secret", secret),
                _ => bail!("{name}: an envFrom func cannot write"),
            };
        envs.push(map([("value", format!("{{{{ {kind}:{name} }}}}").into())]));
    }
    for var in container["env"].as_sequence().into_iter().flatten() {
        let var_name = var["name"].clone();
        let value = if let Some(value) = var["value"].as_str() {
            value.to_owned()
        } else if let Some(secret) = var["valueFrom"]["secretKeyRef"].as_mapping() {
            format!(
                "{{{{ secret:{}:{} }}}}",
                secret["name"].as_str().unwrap_or(""),
                secret["key"].as_str().unwrap_or("")
            )
        } else {
            bail!("{name}: an env var func cannot write: {var:?}")
        };
        envs.push(map([("name", var_name), ("value", value.into())]));
    }

    let mut options = Mapping::new();
    if !scale.is_empty() {
        options.insert("scale".into(), Value::Mapping(scale));
    }
    if !resources.is_empty() {
        options.insert("resources".into(), Value::Mapping(resources));
    }
    let health = |probe: &str| container[probe]["httpGet"]["path"].clone();
    let function = map([
        ("specVersion", "0.36.0".into()),
        ("name", name.into()),
        ("runtime", "rust".into()),
        ("created", "2026-11-01T00:00:00Z".into()),
        ("invoke", "cloudevent".into()),
        ("run", map([("envs", Value::Sequence(envs))])),
        (
            "deploy",
            map([
                ("namespace", service["metadata"]["namespace"].clone()),
                ("options", Value::Mapping(options)),
                ("labels", Value::Sequence(labels)),
                (
                    "healthEndpoints",
                    map([("liveness", health("livenessProbe")), ("readiness", health("readinessProbe"))]),
                ),
                ("serviceAccountName", pod["serviceAccountName"].clone()),
            ]),
        ),
    ]);
    let mut out = HEADER.replace("<name>", name);
    for line in annotations_lost {
        out.push_str(&line);
        out.push_str(" (deploy it with the chart)\n");
    }
    out.push_str(&indent_sequences(&serde_norway::to_string(&function)?));
    Ok(out)
}

/// The YAML with each sequence indented under its key, as the repository's
/// yamllint wants (the serializer writes `- ` level with the key).
fn indent_sequences(yaml: &str) -> String {
    let mut out = String::new();
    // The indents, as written, of the sequences being shifted.
    let mut sequences: Vec<usize> = Vec::new();
    let mut previous_opens = None;
    for line in yaml.lines() {
        let body = line.trim_start();
        let indent = line.len() - body.len();
        let item = body.starts_with("- ");
        while sequences.last().is_some_and(|&s| indent < s || (indent == s && !item)) {
            sequences.pop();
        }
        if item && previous_opens == Some(indent) && sequences.last() != Some(&indent) {
            sequences.push(indent);
        }
        let _ = writeln!(out, "{}{body}", " ".repeat(indent + 2 * sequences.len()));
        previous_opens = body.ends_with(':').then_some(indent);
    }
    out
}
