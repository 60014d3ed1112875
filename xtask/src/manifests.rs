//! `cargo xtask manifests`: renders the Helm chart with its default values
//! into `knative/`, one file per object family, so the plain manifests and
//! the chart are one source of truth; `--check` fails on any drift.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::services;

const HEADER: &str =
    "# Rendered from helm/skybook with its default values by `cargo xtask manifests`. Do not edit.\n";

#[derive(clap::Args)]
pub struct Args {
    /// Compare instead of writing; fail when knative/ differs from the chart.
    #[arg(long)]
    check: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let root = services::workspace_root();
    let bin = tools(&root)?;
    let output = Command::new(bin.join("helm"))
        .args(["template", "skybook"])
        .arg(root.join("helm/skybook"))
        .output()
        .context("helm template")?;
    if !output.status.success() {
        bail!("helm template failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let files = split(&String::from_utf8(output.stdout)?)?;
    let knative = root.join("knative");
    if args.check {
        let mut drift = Vec::new();
        for (path, text) in &files {
            let on_disk = std::fs::read_to_string(knative.join(path)).unwrap_or_default();
            if &on_disk != text {
                drift.push(path.display().to_string());
            }
        }
        for path in rendered_files_on_disk(&knative)? {
            if !files.contains_key(&path) {
                drift.push(format!("{} (not in the chart)", path.display()));
            }
        }
        if !drift.is_empty() {
            bail!("knative/ drifts from the chart: {}; run `cargo xtask manifests`", drift.join(", "));
        }
        println!("manifests: knative/ matches the chart ({} files)", files.len());
        return Ok(());
    }
    for path in rendered_files_on_disk(&knative)? {
        std::fs::remove_file(knative.join(path))?;
    }
    for (path, text) in &files {
        let target = knative.join(path);
        std::fs::create_dir_all(target.parent().context("path")?)?;
        std::fs::write(target, text)?;
    }
    println!("manifests: wrote {} files to knative/", files.len());
    Ok(())
}

/// Fails when knative/ has drifted from the chart.
pub fn run_check() -> anyhow::Result<()> {
    run(Args { check: true })
}

/// The checkers' bin directory, installed by `scripts/tools.sh` if needed.
pub fn tools(root: &Path) -> anyhow::Result<PathBuf> {
    let output =
        Command::new("bash").arg(root.join("scripts/tools.sh")).output().context("scripts/tools.sh")?;
    if !output.status.success() {
        bail!("installing the checkers failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(PathBuf::from(String::from_utf8(output.stdout)?.trim()))
}

/// Splits `helm template` output into files under knative/: each Service on
/// its own, the rest by template.
fn split(rendered: &str) -> anyhow::Result<BTreeMap<PathBuf, String>> {
    let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
    for document in rendered.split("\n---\n").map(|d| d.trim_start_matches("---\n")) {
        let Some(source) = document.lines().find_map(|l| l.strip_prefix("# Source: skybook/templates/"))
        else {
            continue;
        };
        let body: String =
            document.lines().filter(|l| !l.starts_with("# Source:")).collect::<Vec<_>>().join("\n");
        if !body.lines().any(|l| l.starts_with("kind:")) {
            continue;
        }
        let template = source.trim_end_matches(".yaml");
        let path = match template {
            "services" => {
                let name = body
                    .lines()
                    .skip_while(|l| !l.starts_with("metadata:"))
                    .find_map(|l| l.strip_prefix("  name: "))
                    .context("a Service without a name")?;
                PathBuf::from(format!("services/{}.yaml", name.trim()))
            }
            "broker" | "triggers" | "pingsource" | "sinkbinding" | "eventtypes" => {
                PathBuf::from(format!("eventing/{template}.yaml"))
            }
            "configmap" | "secret" => PathBuf::from(format!("config/{template}.yaml")),
            "migrate-job" => PathBuf::from("jobs/migrate.yaml"),
            other => PathBuf::from(format!("{other}.yaml")),
        };
        let file = files.entry(path).or_insert_with(|| HEADER.to_owned());
        if file.len() > HEADER.len() {
            file.push_str("---\n");
        }
        file.push_str(body.trim_end());
        file.push('\n');
    }
    Ok(files)
}

/// Every file the renderer writes (those that start with its header).
fn rendered_files_on_disk(knative: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![knative.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read_to_string(&path).is_ok_and(|t| t.starts_with(HEADER)) {
                found.push(path.strip_prefix(knative)?.to_path_buf());
            }
        }
    }
    found.sort();
    Ok(found)
}
