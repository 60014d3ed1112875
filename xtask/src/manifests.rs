//! `cargo xtask manifests`: writes the event contracts from the functions'
//! types (`schemas/`, the chart's `files/contracts.json`), renders the Helm
//! chart into `knative/` (one file per object family, with
//! `helm/skybook/ci/knative-values.yaml`) and writes skaffold.yaml,
//! docker-compose.yml and docker-bake.json from the list of functions and a
//! func.yaml per function from its rendered Service, so
//! each fact has one source; `--check` fails on any drift.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::{catalog, contracts, func_yaml, services};

const HEADER: &str = "# Rendered from helm/skybook with helm/skybook/ci/knative-values.yaml by `cargo xtask manifests`. Do not edit.\n";

#[derive(clap::Args)]
pub struct Args {
    /// Compare instead of writing; fail when knative/ differs from the chart.
    #[arg(long)]
    check: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let root = services::workspace_root();
    let bin = tools(&root)?;
    // The catalogue and the contracts first: the chart renders its
    // functions, Triggers and EventTypes from them.
    let functions = catalog::checked(&root)?;
    let mut contracts = contracts::files(&root, &functions)?;
    contracts.insert(root.join("helm/skybook/files/functions.json"), catalog::chart(&functions)?);
    let stale_schemas = contracts::stale(&root, &contracts)?;
    if !args.check {
        for path in &stale_schemas {
            std::fs::remove_file(path)?;
        }
        for (path, text) in &contracts {
            std::fs::create_dir_all(path.parent().context("path")?)?;
            std::fs::write(path, text)?;
        }
    }
    let output = Command::new(bin.join("helm"))
        .args(["template", "skybook", "--namespace", "skybook", "--values"])
        .arg(root.join("helm/skybook/ci/knative-values.yaml"))
        .arg(root.join("helm/skybook"))
        .output()
        .context("helm template")?;
    if !output.status.success() {
        bail!("helm template failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let knative = root.join("knative");
    let mut files: BTreeMap<PathBuf, String> = split(&String::from_utf8(output.stdout)?)?
        .into_iter()
        .map(|(path, text)| (knative.join(path), text))
        .collect();
    files.insert(root.join("skaffold.yaml"), catalog::skaffold(&functions));
    files.insert(root.join("docker-compose.yml"), catalog::compose(&functions));
    files.insert(root.join("docker-bake.json"), catalog::bake(&functions)?);
    let mut func_files = Vec::new();
    for (slice, name) in catalog::binaries(&root)? {
        let service = knative.join("services").join(format!("{name}.yaml"));
        let Some(rendered) = files.get(&service) else { continue };
        let service: serde_norway::Value = serde_norway::from_str(rendered).context("a rendered Service")?;
        let path = root.join("functions").join(&slice).join("func").join(&name).join("func.yaml");
        files.insert(path.clone(), func_yaml::from_service(&service)?);
        func_files.push(path);
    }
    let stale: Vec<PathBuf> = rendered_files_on_disk(&knative)?
        .into_iter()
        .map(|p| knative.join(p))
        .filter(|p| !files.contains_key(p))
        .chain(stale_schemas)
        .chain(func_yamls_on_disk(&root)?.into_iter().filter(|p| !func_files.contains(p)))
        .collect();
    files.extend(contracts);
    let api = crate::api_docs::files(&root, &functions)?;
    let stale_api: Vec<PathBuf> = std::fs::read_dir(root.join("schemas/api/openapi"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !api.contains_key(p))
        .collect();
    let web = crate::web_app::files(&root)?;
    let stale_web = crate::web_app::stale(&root, &web);
    let stale: Vec<PathBuf> = stale.into_iter().chain(stale_api).chain(stale_web).collect();
    files.extend(api);
    files.extend(web);
    let shown = |path: &Path| path.strip_prefix(&root).unwrap_or(path).display().to_string();
    if args.check {
        let mut drift: Vec<String> = files
            .iter()
            .filter(|(path, text)| std::fs::read_to_string(path).unwrap_or_default() != **text)
            .map(|(path, _)| shown(path))
            .collect();
        drift.extend(stale.iter().map(|path| format!("{} (not in the chart)", shown(path))));
        if !drift.is_empty() {
            bail!(
                "generated files drift from their source: {}; run `cargo xtask manifests`",
                drift.join(", ")
            );
        }
        println!(
            "manifests: knative/, schemas/, the chart's functions and contracts, every func.yaml, skaffold.yaml, docker-compose.yml, docker-bake.json and the web app's build match ({} files)",
            files.len()
        );
        return Ok(());
    }
    for path in stale {
        std::fs::remove_file(path)?;
    }
    for (path, text) in &files {
        std::fs::create_dir_all(path.parent().context("path")?)?;
        std::fs::write(path, text)?;
    }
    println!("manifests: wrote {} files", files.len());
    Ok(())
}

/// The func.yaml files there are: `functions/<slice>/func/<name>/func.yaml`.
fn func_yamls_on_disk(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for slice in std::fs::read_dir(root.join("functions"))? {
        let Ok(names) = std::fs::read_dir(slice?.path().join("func")) else { continue };
        for name in names {
            let path = name?.path().join("func.yaml");
            if path.exists() {
                found.push(path);
            }
        }
    }
    Ok(found)
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
            "configmap" | "secret" | "serviceaccount" | "networkpolicy" => {
                PathBuf::from(format!("config/{template}.yaml"))
            }
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
