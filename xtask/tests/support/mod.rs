//! What the chart tests share: the chart rendered by the real `helm
//! template`, and a few readers of the objects it makes.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;
use serde_norway::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// `helm template` with these arguments: the objects, or helm's error.
pub fn render(args: &[&str]) -> Result<Vec<Value>, String> {
    render_chart(&root().join("helm/skybook"), args)
}

/// `helm template` of the chart at `chart`.
pub fn render_chart(chart: &std::path::Path, args: &[&str]) -> Result<Vec<Value>, String> {
    let helm = root().join("target/tools/bin/helm");
    assert!(helm.exists(), "helm is installed by scripts/tools.sh (the test command runs it)");
    let output = Command::new(helm)
        .args(["template", "skybook", "--namespace", "skybook"])
        .arg(chart)
        .args(args)
        .output()
        .unwrap();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(documents(&String::from_utf8(output.stdout).unwrap()))
}

/// The objects of a multi-document YAML text.
pub fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// The render with one of the chart's ci/ value files, and more arguments.
pub fn with_values_and(file: &str, args: &[&str]) -> Vec<Value> {
    let path = root().join("helm/skybook/ci").join(file);
    let mut all = vec!["--values", path.to_str().unwrap()];
    all.extend_from_slice(args);
    render(&all).unwrap()
}

pub fn with_values(file: &str) -> Vec<Value> {
    with_values_and(file, &[])
}

pub fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap()
}

pub fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap()
}

/// The pod spec of a workload, if it is one.
pub fn pod(doc: &Value) -> Option<&Value> {
    match kind(doc) {
        "Service" if doc["apiVersion"] == "serving.knative.dev/v1" => Some(&doc["spec"]["template"]["spec"]),
        "Job" | "Deployment" => Some(&doc["spec"]["template"]["spec"]),
        _ => None,
    }
}

/// The YAML files under `dir` in the order `kubectl apply -R` reads them
/// (a depth-first walk, each directory's entries by name).
pub fn yaml_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    let mut out = Vec::new();
    for path in entries {
        if path.is_dir() {
            out.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
    out
}
