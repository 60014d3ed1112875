//! What deploys, checked against what is built: every function has its
//! Knative Service, skaffold artifact and chart entry; every Trigger reaches
//! a Service; every setting a function reads is set; no secret sits in a
//! ConfigMap; every container runs as non-root on a read-only filesystem.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_norway::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn documents(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// Every object under knative/, by kind.
fn manifests() -> BTreeMap<String, Vec<Value>> {
    let mut by_kind: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut stack = vec![root().join("knative")];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                for doc in documents(&path) {
                    by_kind.entry(doc["kind"].as_str().unwrap().to_owned()).or_default().push(doc);
                }
            }
        }
    }
    by_kind
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap()
}

/// The function binaries: `functions/<slice>/src/bin/<function>.rs`.
fn functions() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for slice in fs::read_dir(root().join("functions")).unwrap() {
        let bins = slice.unwrap().path().join("src/bin");
        for bin in fs::read_dir(bins).into_iter().flatten() {
            names.insert(bin.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned());
        }
    }
    names
}

#[test]
fn every_function_has_one_service_one_artifact_one_chart_entry() {
    let manifests = manifests();
    let functions = functions();
    for function in &functions {
        let services = manifests["Service"].iter().filter(|s| name(s) == function).count();
        assert_eq!(services, 1, "{function}: {services} Knative Services");
    }
    let skaffold = &documents(&root().join("skaffold.yaml"))[0];
    let artifacts: Vec<&str> = skaffold["build"]["artifacts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a["docker"]["buildArgs"]["FUNCTION"].as_str().unwrap())
        .collect();
    let catalogue: BTreeSet<&str> = catalogue::functions().iter().map(|f| f.name()).collect();
    for function in &functions {
        assert_eq!(artifacts.iter().filter(|a| *a == function).count(), 1, "{function}: skaffold artifacts");
        assert!(catalogue.contains(function.as_str()), "{function}: not in the catalogue");
    }
    assert!(artifacts.contains(&"skybook-migrate"), "the migration Job's image is built too");
    assert_eq!(catalogue.len(), functions.len(), "catalogue entries without a binary: {catalogue:?}");
}

#[test]
fn every_compose_service_publishes_its_own_host_port() {
    let compose = &documents(&root().join("docker-compose.yml"))[0];
    let mut taken = BTreeMap::new();
    for (service, spec) in compose["services"].as_mapping().unwrap() {
        for port in spec["ports"].as_sequence().into_iter().flatten() {
            let host = port.as_str().unwrap().split(':').next().unwrap().to_owned();
            let service = service.as_str().unwrap();
            if let Some(other) = taken.insert(host.clone(), service) {
                panic!("{service} and {other} both publish port {host}");
            }
        }
    }
    assert!(taken.len() > 20, "{taken:?}");
}

/// The registries Knative Serving resolves no tag in: its default
/// `registries-skipping-tag-resolving` (knative/serving knative-v1.19.9,
/// pkg/deployment/config.go).
const UNRESOLVED_REGISTRIES: [&str; 3] = ["kind.local", "ko.local", "dev.local"];

#[test]
fn images_that_skaffold_keeps_local_are_ones_knative_does_not_look_up() {
    let skaffold = &documents(&root().join("skaffold.yaml"))[0];
    let kind_sh = std::fs::read_to_string(root().join("scripts/cluster/kind.sh")).unwrap();
    for registry in UNRESOLVED_REGISTRIES {
        assert!(kind_sh.contains(registry), "kind.sh keeps {registry} among the registries Knative skips");
    }
    let mut local = 0;
    for profile in skaffold["profiles"].as_sequence().unwrap() {
        if profile["build"]["local"]["push"] != Value::Bool(false) {
            continue;
        }
        for artifact in profile["build"]["artifacts"].as_sequence().unwrap() {
            let image = artifact["image"].as_str().unwrap();
            let registry = image.split('/').next().unwrap();
            assert!(
                UNRESOLVED_REGISTRIES.contains(&registry),
                "{image}: never pushed, and Knative would look its tag up in a registry"
            );
            local += 1;
        }
    }
    assert!(local > 20, "the dev profile builds every image without pushing");
}

#[test]
fn every_trigger_and_source_reaches_a_service() {
    let manifests = manifests();
    let services: BTreeSet<&str> = manifests["Service"].iter().map(name).collect();
    for trigger in &manifests["Trigger"] {
        let subscriber = trigger["spec"]["subscriber"]["ref"]["name"].as_str().unwrap();
        assert!(services.contains(subscriber), "Trigger {} to a missing Service {subscriber}", name(trigger));
        let dead = trigger["spec"]["delivery"]["deadLetterSink"]["ref"]["name"].as_str().unwrap();
        assert!(services.contains(dead), "Trigger {}: missing dead-letter sink {dead}", name(trigger));
        assert!(
            trigger["spec"]["filter"]["attributes"]["type"].is_string(),
            "Trigger {} filters by type",
            name(trigger)
        );
    }
    for ping in &manifests["PingSource"] {
        assert!(services.contains(ping["spec"]["sink"]["ref"]["name"].as_str().unwrap()));
    }
}

#[test]
fn every_setting_a_function_reads_is_set_and_no_secret_sits_in_a_config_map() {
    let manifests = manifests();
    let config_keys: BTreeSet<&str> =
        manifests["ConfigMap"][0]["data"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap()).collect();
    // The Secret is the user's (existingSecret) or made from the chart's `secret:` values.
    let values = &documents(&root().join("helm/skybook/values.yaml"))[0];
    let secret_keys: BTreeSet<&str> =
        values["secret"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap()).collect();
    for secret in ["DATABASE_URL", "REDIS_URL", "GROQ_API_KEY", "AUTH_API_KEYS"] {
        assert!(secret_keys.contains(secret), "{secret} belongs in the Secret");
        assert!(!config_keys.contains(secret), "{secret} must not be in the ConfigMap");
    }
    for key in ["RUST_LOG", "LOG_FORMAT", "GROQ_BASE_URL", "GROQ_MODEL"] {
        assert!(config_keys.contains(key), "{key} belongs in the ConfigMap");
    }
    for (key, value) in manifests["ConfigMap"][0]["data"].as_mapping().unwrap() {
        let (key, value) = (key.as_str().unwrap(), value.as_str().unwrap_or_default());
        assert!(
            !["KEY", "SECRET", "PASSWORD", "TOKEN"].iter().any(|w| key.contains(w)),
            "ConfigMap key {key}"
        );
        assert!(!value.contains('@'), "ConfigMap value of {key} looks like it holds credentials");
    }
    let emitting: Vec<&str> =
        catalogue::functions().iter().filter(|f| f.emits_events()).map(|f| f.name()).collect();
    assert!(emitting.contains(&"create-booking"), "{emitting:?}");
    for service in manifests["Service"].iter().filter(|s| functions().contains(name(s))) {
        let container = &service["spec"]["template"]["spec"]["containers"][0];
        let sources: Vec<&str> = container["envFrom"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|e| e["configMapRef"]["name"].as_str().or(e["secretRef"]["name"].as_str()))
            .collect();
        assert_eq!(sources, ["skybook-config", "skybook-secrets"], "{}: settings", name(service));
        // K_SINK comes from the SinkBinding, which selects by this label.
        let label = service["metadata"]["labels"]["skybook.dev/emits-events"].as_str();
        assert_eq!(label == Some("true"), emitting.contains(&name(service)), "{}: K_SINK", name(service));
    }
    let binding = &manifests["SinkBinding"][0]["spec"]["subject"]["selector"]["matchLabels"];
    assert_eq!(binding["skybook.dev/emits-events"].as_str(), Some("true"));
}

#[test]
fn consumers_are_cluster_local_and_every_container_is_locked_down() {
    let manifests = manifests();
    for service in &manifests["Service"] {
        let local = service["metadata"]["labels"]["networking.knative.dev/visibility"].as_str()
            == Some("cluster-local");
        let consumer = catalogue::functions().iter().any(|f| f.name() == name(service) && !f.external());
        assert_eq!(local, consumer, "{}: visibility", name(service));
    }
    let pods = manifests["Service"]
        .iter()
        .map(|s| (name(s), &s["spec"]["template"]["spec"]))
        .chain(manifests["Job"].iter().map(|j| (name(j), &j["spec"]["template"]["spec"])));
    for (owner, pod) in pods {
        for container in pod["containers"].as_sequence().unwrap() {
            let security = &container["securityContext"];
            assert_eq!(security["runAsNonRoot"].as_bool(), Some(true), "{owner}: runAsNonRoot");
            assert_eq!(
                security["readOnlyRootFilesystem"].as_bool(),
                Some(true),
                "{owner}: readOnlyRootFilesystem"
            );
            assert_eq!(
                security["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{owner}: privilege escalation"
            );
            assert_eq!(security["capabilities"]["drop"][0].as_str(), Some("ALL"), "{owner}: capabilities");
        }
    }
}

#[test]
fn functions_scale_to_zero_by_default() {
    for service in manifests()["Service"].iter().filter(|s| functions().contains(name(s))) {
        let annotations = &service["spec"]["template"]["metadata"]["annotations"];
        assert_eq!(annotations["autoscaling.knative.dev/min-scale"].as_str(), Some("0"), "{}", name(service));
        assert_eq!(
            annotations["autoscaling.knative.dev/max-scale"].as_str(),
            Some("10"),
            "{}",
            name(service)
        );
        assert!(service["spec"]["template"]["spec"]["containerConcurrency"].as_u64().is_some());
        let probes = &service["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(probes["readinessProbe"]["httpGet"]["path"].as_str(), Some("/health/readiness"));
        assert_eq!(probes["livenessProbe"]["httpGet"]["path"].as_str(), Some("/health/liveness"));
    }
}
