//! Images that exist: a version tag publishes every image under the name and
//! tag the chart and knative/ default to, the tag is refused unless every
//! version in the repository agrees, and what ships is built on bases pinned
//! by digest.

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use serde_norway::Value;
use support::{pod, render, root};

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

fn yaml(path: &str) -> Value {
    serde_norway::from_str(&read(path)).unwrap()
}

/// scripts/release/version.sh with this tag: the version, or its refusal.
fn version_of(tag: &str) -> Result<String, String> {
    let out = Command::new("bash").arg(root().join("scripts/release/version.sh")).arg(tag).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_owned();
    if out.status.success() { Ok(text(&out.stdout)) } else { Err(text(&out.stderr)) }
}

#[test]
fn a_version_tag_pushes_every_image_the_chart_and_knative_default_to() {
    let chart = yaml("helm/skybook/Chart.yaml");
    let version = chart["appVersion"].as_str().unwrap().to_owned();
    assert_eq!(version_of(&format!("v{version}")), Ok(version.clone()));
    let refused = version_of("v9.9.9").unwrap_err();
    assert!(refused.contains("make them one"), "{refused}");

    // What the workflow pushes: each bake target as ${REPOSITORY}/<target>:${TAG}.
    let workflow = yaml(".github/workflows/release.yml");
    assert_eq!(workflow["on"]["push"]["tags"][0], "v*");
    let steps = workflow["jobs"]["publish"]["steps"].as_sequence().unwrap();
    let bake = steps
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("docker/bake-action")))
        .unwrap();
    assert_eq!(bake["with"]["push"], Value::Bool(true));
    assert_eq!(bake["env"]["TAG"], "${{ steps.version.outputs.version }}");
    assert_eq!(bake["env"]["REPOSITORY"], "${{ steps.repository.outputs.repository }}");
    let step = |id: &str| steps.iter().find(|s| s["id"] == id).unwrap()["run"].as_str().unwrap().to_owned();
    assert!(step("version").contains("scripts/release/version.sh \"$GITHUB_REF_NAME\""));
    assert!(step("repository").contains("yq '.image.repository' helm/skybook/values.yaml"));

    let bake_file: serde_json::Value =
        serde_json::from_str(&read(bake["with"]["files"].as_str().unwrap())).unwrap();
    let pushed: BTreeSet<String> = bake_file["target"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|t| t["tags"].as_array().unwrap().iter().map(|tag| tag.as_str().unwrap().to_owned()))
        .collect();
    let repository = yaml("helm/skybook/values.yaml")["image"]["repository"].as_str().unwrap().to_owned();
    let published: BTreeSet<String> =
        pushed.iter().map(|t| t.replace("${REPOSITORY}", &repository).replace("${TAG}", &version)).collect();

    // Every image of ours the chart's defaults and knative/ run is one of them.
    let defaults = render(&["--set", "auth.disabled=true"]).unwrap();
    let mut plain = Vec::new();
    for entry in support::yaml_files(&root().join("knative")) {
        plain.extend(support::documents(&std::fs::read_to_string(entry).unwrap()));
    }
    let ours: BTreeSet<String> = defaults
        .iter()
        .chain(&plain)
        .filter_map(pod)
        .flat_map(|p| p["containers"].as_sequence().unwrap())
        .map(|c| c["image"].as_str().unwrap().to_owned())
        .filter(|image| image.starts_with(&repository))
        .collect();
    assert!(ours.len() >= 21, "{ours:?}");
    let missing: Vec<_> = ours.difference(&published).collect();
    assert!(missing.is_empty(), "run by default, never published by a release: {missing:?}");
}

#[test]
fn what_ships_is_built_on_bases_pinned_by_digest() {
    for line in read("Dockerfile").lines().filter(|l| l.starts_with("FROM ")) {
        let base = line.split_whitespace().nth(1).unwrap();
        let stage = base == "chef";
        assert!(stage || base.contains("@sha256:"), "{line}: a base image by tag alone");
    }
    let values = yaml("helm/skybook/values.yaml");
    let redis = values["redis"]["image"].as_str().unwrap();
    assert!(redis.contains("@sha256:"), "the chart's Redis {redis} by tag alone");
}
