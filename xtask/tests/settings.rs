//! The chart's settings and the code's are one list: every variable the
//! chart gives a function is one the function reads, and every function of
//! every render gets what it cannot start (or serve) without: its database,
//! its Redis, the keys its events are signed with, its identities.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;
use serde_norway::Value;
use shared::Dependency;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// The settings the code reads, as environment variables: the runtime's
/// and every function's sections, as each declares them.
fn settings_read() -> BTreeSet<String> {
    let names: BTreeSet<String> = catalogue::functions()
        .iter()
        .flat_map(|f| f.function.settings_read().map(|(name, _)| name.to_uppercase()).collect::<Vec<_>>())
        .collect();
    assert!(names.contains("GROQ_API_KEY") && names.contains("PORT"), "{names:?}");
    names
}

/// Read by the runtime outside `Settings`: OpenTelemetry's own variables
/// (any `OTEL_*`), Knative's, and the file of settings.
fn read_elsewhere(name: &str) -> bool {
    name.starts_with("OTEL_") || ["K_SERVICE", "K_REVISION", "SKYBOOK_CONFIG"].contains(&name)
}

fn render(values: &str) -> Vec<Value> {
    let output = Command::new(root().join("target/tools/bin/helm"))
        .args(["template", "skybook", "--namespace", "skybook"])
        .arg(root().join("helm/skybook"))
        .arg("--values")
        .arg(root().join("helm/skybook/ci").join(values))
        .output()
        .unwrap();
    assert!(output.status.success(), "{values}: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn keys(map: &Value) -> BTreeMap<String, String> {
    map.as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// What one function's container is given: each variable and its value
/// (empty where it comes from a reference). A Secret of the user's own
/// (`existingSecret`) stands for `documented`, the keys `secret:` in
/// values.yaml lists.
fn environment(
    objects: &[Value],
    container: &Value,
    documented: &BTreeSet<String>,
) -> BTreeMap<String, String> {
    let find =
        |kind: &str, name: &str| objects.iter().find(|d| d["kind"] == kind && d["metadata"]["name"] == name);
    let mut env = BTreeMap::new();
    for source in container["envFrom"].as_sequence().into_iter().flatten() {
        if let Some(name) = source["configMapRef"]["name"].as_str() {
            env.extend(keys(&find("ConfigMap", name).unwrap()["data"]));
        }
        if let Some(name) = source["secretRef"]["name"].as_str() {
            match find("Secret", name) {
                Some(secret) => env.extend(keys(&secret["stringData"])),
                None => env.extend(documented.iter().map(|k| (k.clone(), "given".to_owned()))),
            }
        }
    }
    for variable in container["env"].as_sequence().into_iter().flatten() {
        let value = variable["value"].as_str().unwrap_or("referenced");
        env.insert(variable["name"].as_str().unwrap().to_owned(), value.to_owned());
    }
    env
}

#[test]
fn every_variable_the_chart_sets_is_read_and_every_function_gets_what_it_needs() {
    let read = settings_read();
    let values: Value =
        serde_norway::from_str(&std::fs::read_to_string(root().join("helm/skybook/values.yaml")).unwrap())
            .unwrap();
    let documented: BTreeSet<String> = keys(&values["secret"]).into_keys().collect();
    let specs: BTreeMap<&str, shared::Function> =
        catalogue::functions().into_iter().map(|f| (f.name(), f.function)).collect();
    for values in ["fresh-cluster-values.yaml", "hpa-values.yaml", "knative-values.yaml", "oidc-values.yaml"]
    {
        let objects = render(values);
        let services =
            objects.iter().filter(|d| d["kind"] == "Service" && d["apiVersion"] == "serving.knative.dev/v1");
        let mut seen = 0;
        for service in services {
            let name = service["metadata"]["name"].as_str().unwrap();
            let function = specs.get(name).unwrap_or_else(|| panic!("{values}: {name} is no function"));
            let container = &service["spec"]["template"]["spec"]["containers"][0];
            let env = environment(&objects, container, &documented);
            let expanded: String = env.values().cloned().collect();
            for variable in env.keys() {
                // Set only to be spliced into another (`$(DB_PASSWORD)`).
                let spliced = expanded.contains(&format!("$({variable})"));
                assert!(
                    read.contains(variable) || read_elsewhere(variable) || spliced,
                    "{values}: {name} is given {variable}, which nothing reads"
                );
            }
            let has = |variable: &str| env.get(variable).is_some_and(|v| !v.is_empty());
            let spec = &function.spec;
            if spec.dependencies.contains(&Dependency::Postgres) {
                assert!(has("DATABASE_URL"), "{values}: {name} reads PostgreSQL without DATABASE_URL");
            }
            if spec.dependencies.contains(&Dependency::Redis) || spec.rate_limit.is_on() {
                assert!(has("REDIS_URL"), "{values}: {name} counts in Redis without REDIS_URL");
            }
            let emits = service["metadata"]["labels"]["skybook.dev/emits-events"] == "true";
            if spec.access.is_broker() || emits {
                assert!(
                    has("EVENT_SIGNING_KEYS")
                        || (spec.access.is_broker() && env.get("OIDC_ENABLED").is_some_and(|v| v == "true")),
                    "{values}: {name} sends or takes events without EVENT_SIGNING_KEYS"
                );
            }
            if spec.access.needs_identities() {
                assert!(
                    has("AUTH_API_KEYS")
                        || has("AUTH_ISSUER")
                        || env.get("AUTH_DISABLED").is_some_and(|v| v == "true"),
                    "{values}: {name} needs identities and is given none"
                );
            }
            seen += 1;
        }
        assert_eq!(seen, specs.len(), "{values}: every function is rendered");
    }
}
