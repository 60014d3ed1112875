//! `func deploy` keeps what the chart configured: each function's func.yaml,
//! applied to its Knative Service as func 1.19's deployer applies it to a
//! Service it updates (knative/func pkg/knative/deployer.go, `updateService`
//! and `setServiceOptions` at knative-v1.19.0), gives back the chart's
//! Service field by field, but for what func always adds and the two
//! revision annotations no func.yaml can carry.

mod support;

use std::collections::BTreeSet;

use serde_norway::{Mapping, Value};
use support::{documents, root};

fn mapping(value: &Value) -> Mapping {
    value.as_mapping().cloned().unwrap_or_default()
}

/// What func's deployer makes of `previous` with this func.yaml (and the
/// image given with --image, here the one running).
fn func_deploy(previous: &Value, func: &Value) -> Value {
    let mut service = previous.clone();
    let deploy = &func["deploy"];
    let options = &deploy["options"];

    // generateServiceAnnotations: deploy.annotations on the Service, copied to the revision.
    let annotations = mapping(&deploy["annotations"]);
    service["metadata"]["annotations"] = Value::Mapping(annotations.clone());
    let template = &mut service["spec"]["template"];
    let mut revision = annotations;

    // setServiceOptions: the scale annotations set or removed, resources and concurrency replaced.
    if options["scale"].is_mapping() {
        let scale = &options["scale"];
        for (key, field) in [
            ("autoscaling.knative.dev/min-scale", "min"),
            ("autoscaling.knative.dev/max-scale", "max"),
            ("autoscaling.knative.dev/metric", "metric"),
            ("autoscaling.knative.dev/target", "target"),
            ("autoscaling.knative.dev/target-utilization-percentage", "utilization"),
        ] {
            let value = match &scale[field] {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                Value::Number(n) if field == "target" || field == "utilization" => {
                    Some(format!("{:.6}", n.as_f64().unwrap()))
                }
                Value::Number(n) => Some(n.to_string()),
                other => panic!("{field}: {other:?}"),
            };
            match value {
                Some(v) => revision.insert(key.into(), v.into()),
                None => revision.remove(key),
            };
        }
    }
    template["metadata"]["annotations"] = Value::Mapping(revision);
    let pod = &mut template["spec"];
    let container = &mut pod["containers"][0];
    let mut resources = Mapping::new();
    for part in ["requests", "limits"] {
        let mut quantities = Mapping::new();
        for field in ["cpu", "memory"] {
            if let Some(q) = options["resources"][part][field].as_str() {
                quantities.insert(field.into(), q.into());
            }
        }
        if options["resources"][part].is_mapping() {
            resources.insert(part.into(), Value::Mapping(quantities));
        }
    }
    container["resources"] = Value::Mapping(resources);
    let concurrency = &options["resources"]["limits"]["concurrency"];
    pod.as_mapping_mut().unwrap().remove("containerConcurrency");
    if !concurrency.is_null() {
        pod["containerConcurrency"] = concurrency.clone();
    }

    // setHealthEndpoints: the probes replaced by a bare httpGet on each path.
    let container = &mut pod["containers"][0];
    for (probe, endpoint) in [("livenessProbe", "liveness"), ("readinessProbe", "readiness")] {
        let path = deploy["healthEndpoints"][endpoint].clone();
        container[probe] =
            serde_norway::from_str(&format!("httpGet: {{path: {}}}", path.as_str().unwrap())).unwrap();
    }

    // processEnvs: BUILT first, then each env, then ADDRESS unless given.
    let mut env = vec![named("BUILT", "20261206T000000")];
    let mut env_from = Vec::new();
    let mut address = false;
    for entry in func["run"]["envs"].as_sequence().into_iter().flatten() {
        let value = entry["value"].as_str().unwrap();
        let parts: Vec<&str> = value.trim_matches(|c| c == '{' || c == '}' || c == ' ').split(':').collect();
        match (entry["name"].as_str(), value.starts_with("{{"), parts.as_slice()) {
            (None, true, [kind, name]) => env_from.push(reference(kind, name, None)),
            (Some(var), true, [kind, name, key]) => {
                let mut with = Mapping::new();
                with.insert("name".into(), var.into());
                with.insert("valueFrom".into(), reference(kind, name, Some(key)));
                env.push(Value::Mapping(with));
            }
            (Some(var), false, _) => {
                address |= var == "ADDRESS";
                env.push(named(var, value));
            }
            other => panic!("an env func refuses: {other:?}"),
        }
    }
    if !address {
        env.push(named("ADDRESS", "0.0.0.0"));
    }
    container["env"] = Value::Sequence(env);
    container["envFrom"] = Value::Sequence(env_from);
    container.as_mapping_mut().unwrap().remove("volumeMounts");
    pod.as_mapping_mut().unwrap().remove("volumes");
    pod["serviceAccountName"] = deploy["serviceAccountName"].clone();

    // generateServiceLabels: func's own two, then deploy.labels, on the Service and the revision.
    let mut labels = Mapping::new();
    labels.insert("function.knative.dev/name".into(), func["name"].clone());
    labels.insert("function.knative.dev/runtime".into(), func["runtime"].clone());
    for label in deploy["labels"].as_sequence().into_iter().flatten() {
        labels.insert(label["key"].clone(), label["value"].clone());
    }
    service["metadata"]["labels"] = Value::Mapping(labels.clone());
    service["spec"]["template"]["metadata"]["labels"] = Value::Mapping(labels);
    service
}

fn named(name: &str, value: &str) -> Value {
    serde_norway::from_str(&format!("{{name: {name}, value: '{value}'}}")).unwrap()
}

fn reference(kind: &str, name: &str, key: Option<&str>) -> Value {
    let (field, what) = match (kind, key) {
        ("configMap", None) => ("configMapRef", format!("{{name: {name}}}")),
        ("secret", None) => ("secretRef", format!("{{name: {name}}}")),
        ("configMap", Some(key)) => ("configMapKeyRef", format!("{{name: {name}, key: {key}}}")),
        ("secret", Some(key)) => ("secretKeyRef", format!("{{name: {name}, key: {key}}}")),
        other => panic!("{other:?}"),
    };
    serde_norway::from_str(&format!("{{{field}: {what}}}")).unwrap()
}

/// Where two values differ, by path.
fn differences(path: &str, chart: &Value, func: &Value, out: &mut Vec<String>) {
    let empty = |v: &Value| {
        v.is_null()
            || v.as_mapping().is_some_and(Mapping::is_empty)
            || v.as_sequence().is_some_and(Vec::is_empty)
    };
    match (chart, func) {
        (Value::Mapping(a), Value::Mapping(b)) => {
            let keys: BTreeSet<String> =
                a.keys().chain(b.keys()).map(|k| k.as_str().unwrap().to_owned()).collect();
            for key in keys {
                let (x, y) = (
                    a.get(key.as_str()).unwrap_or(&Value::Null),
                    b.get(key.as_str()).unwrap_or(&Value::Null),
                );
                differences(&format!("{path}.{key}"), x, y, out);
            }
        }
        (Value::Sequence(a), Value::Sequence(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if empty(chart) && empty(func) => {}
        _ if chart != func => out.push(format!("{path}: the chart sets {chart:?}, func deploy {func:?}")),
        _ => {}
    }
}

#[test]
fn func_deploy_gives_each_function_back_the_service_the_chart_made() {
    let ticked: BTreeSet<String> =
        documents(&std::fs::read_to_string(root().join("knative/eventing/pingsource.yaml")).unwrap())
            .iter()
            .map(|p| p["spec"]["sink"]["ref"]["name"].as_str().unwrap().to_owned())
            .collect();
    let mut checked = 0;
    for func_file in glob_func_yamls() {
        let func: Value = serde_norway::from_str(&std::fs::read_to_string(&func_file).unwrap()).unwrap();
        let name = func["name"].as_str().unwrap();
        assert!(
            func["deploy"]["subscriptions"].is_null(),
            "{name}: func would make Triggers beside the chart's"
        );
        let chart = documents(
            &std::fs::read_to_string(root().join(format!("knative/services/{name}.yaml"))).unwrap(),
        )
        .remove(0);
        let mut deployed = func_deploy(&chart, &func);

        // What func always adds: BUILT and ADDRESS, and its labels on the revision too.
        let env = deployed["spec"]["template"]["spec"]["containers"][0]["env"].as_sequence_mut().unwrap();
        let added = std::mem::take(env);
        env.extend(added.into_iter().filter(|v| v["name"] != "BUILT" && v["name"] != "ADDRESS"));
        let revision = deployed["spec"]["template"]["metadata"].as_mapping_mut().unwrap();
        assert_eq!(revision.remove("labels").as_ref(), Some(&chart["metadata"]["labels"]), "{name}");

        // The revision annotations func cannot carry: the default class, and a ticked function's window.
        let mut expected = chart.clone();
        let annotations = expected["spec"]["template"]["metadata"]["annotations"].as_mapping_mut().unwrap();
        let class = annotations.remove("autoscaling.knative.dev/class");
        assert_eq!(class.as_ref().and_then(Value::as_str), Some("kpa.autoscaling.knative.dev"), "{name}");
        let window = annotations.remove("autoscaling.knative.dev/window");
        assert_eq!(window.is_some(), ticked.contains(name), "{name}: only a ticked function has a window");
        for annotations in
            [annotations, deployed["spec"]["template"]["metadata"]["annotations"].as_mapping_mut().unwrap()]
        {
            let target =
                annotations["autoscaling.knative.dev/target"].as_str().unwrap().parse::<f64>().unwrap();
            annotations.insert("autoscaling.knative.dev/target".into(), target.to_string().into());
        }

        let mut found = Vec::new();
        differences(name, &expected, &deployed, &mut found);
        assert!(found.is_empty(), "func deploy would change {name}:\n{}", found.join("\n"));
        checked += 1;
    }
    assert_eq!(checked, catalogue::functions().len());
}

fn glob_func_yamls() -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for slice in std::fs::read_dir(root().join("functions")).unwrap() {
        let Ok(names) = std::fs::read_dir(slice.unwrap().path().join("func")) else { continue };
        found.extend(names.map(|n| n.unwrap().path().join("func.yaml")));
    }
    found.sort();
    found
}

#[test]
fn a_ticked_functions_func_yaml_says_func_deploy_drops_its_window() {
    let text = std::fs::read_to_string(root().join("functions/outbox/func/relay-outbox/func.yaml")).unwrap();
    assert!(text.contains("func deploy drops autoscaling.knative.dev/window"), "{text}");
}
