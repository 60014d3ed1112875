//! The event contracts, from the functions' own types: the JSON Schema of
//! every event type's data a function accepts (commands and queries) or
//! answers and emits, written to `schemas/<type>.json` (its `$id` the URI
//! every such event names as `dataschema`), and the list the chart renders
//! its EventTypes from (`helm/skybook/files/contracts.json`). Both are
//! generated files: `cargo xtask manifests --check` fails when they drift.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::bail;
use serde_json::{Value, json};
use shared::Kind;

use crate::catalog::Function;

/// One event type's contract: its data's schema, and the function that accepts or answers it.
struct Contract {
    schema: Value,
    function: &'static str,
    /// The ce-source its producer sets (a reply's); none for what clients send.
    source: Option<&'static str>,
    emitted: bool,
}

/// The generated files: each `schemas/<type>.json`, and the chart's list.
pub fn files(root: &Path, functions: &[Function]) -> anyhow::Result<BTreeMap<PathBuf, String>> {
    let emitted = catalogue::emitted(functions);
    let mut contracts: BTreeMap<&'static str, Contract> = BTreeMap::new();
    let mut add = |ty: &'static str, contract: Contract| -> anyhow::Result<()> {
        match contracts.get(ty) {
            Some(known) if known.schema != contract.schema => {
                bail!("{ty}: {} and {} give its data different schemas", known.function, contract.function)
            }
            Some(_) => Ok(()),
            None => {
                contracts.insert(ty, contract);
                Ok(())
            }
        }
    };
    for function in functions.iter().map(|e| &e.function) {
        // A consumer's input is its own view of someone else's event: the
        // producer's schema is the one published.
        if function.kind == Kind::Consumer {
            continue;
        }
        let spec = &function.spec;
        for ty in spec.accepts {
            let schema = shared::contract::published(ty, (function.contract.accepts)());
            add(ty, Contract { schema, function: spec.name, source: None, emitted: false })?;
        }
        if let (Some(ty), Some(replies)) = (spec.replies, function.contract.replies) {
            let schema = shared::contract::published(ty, replies());
            let emitted = emitted.contains(ty);
            add(ty, Contract { schema, function: spec.name, source: Some(spec.source), emitted })?;
        }
    }
    let mut files = BTreeMap::new();
    let mut list = Vec::new();
    for (ty, contract) in &contracts {
        files.insert(root.join("schemas").join(format!("{ty}.json")), pretty(&contract.schema)?);
        let description = domain::events::description(ty).map(str::to_owned).unwrap_or_else(|| {
            let verb = if contract.source.is_some() { "answers" } else { "accepts" };
            format!("The data of {ty}, which {} {verb}.", contract.function)
        });
        list.push(json!({
            "type": ty,
            "description": description,
            "dataschema": shared::contract::id(ty),
            "source": contract.source,
            "function": contract.function,
            "emitted": contract.emitted,
        }));
    }
    files.insert(root.join("helm/skybook/files/contracts.json"), pretty(&Value::Array(list))?);
    Ok(files)
}

fn pretty(value: &Value) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// Schemas on disk that no function gives any more.
pub fn stale(root: &Path, files: &BTreeMap<PathBuf, String>) -> anyhow::Result<Vec<PathBuf>> {
    let dir = root.join("schemas");
    let mut stale = Vec::new();
    if dir.exists() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") && !files.contains_key(&path) {
                stale.push(path);
            }
        }
    }
    Ok(stale)
}

/// The contracts against a running stack and its real traffic (the smoke
/// script's calls, recorded in `calls`): every function serves at `GET
/// /schema` exactly what `schemas/` publishes for its types, and every
/// request a function took and every reply (the event a command emitted, as
/// it was emitted) validates against its type's published schema, checked
/// by an independent validator (check-jsonschema).
pub fn check(root: &Path, urls: &BTreeMap<String, String>, calls: &Path) -> anyhow::Result<()> {
    let published = |ty: &str| -> anyhow::Result<Value> {
        let path = root.join("schemas").join(format!("{ty}.json"));
        Ok(serde_json::from_str(&std::fs::read_to_string(&path)?)?)
    };
    let functions: Vec<_> = catalogue::functions().into_iter().map(|e| e.function).collect();
    for function in functions.iter().filter(|f| f.kind != Kind::Consumer) {
        let Some(url) = urls.get(function.spec.name) else { continue };
        let served: Value = crate::observability::get_json(&format!("{url}/schema"))?;
        for ty in function.spec.accepts {
            anyhow::ensure!(
                served["accepts"]["schema"] == published(ty)?,
                "{} serves another schema for {ty} than schemas/ publishes",
                function.spec.name
            );
        }
        if let Some(ty) = function.spec.replies {
            anyhow::ensure!(
                served["replies"]["schema"] == published(ty)?,
                "{} serves another schema for {ty} than schemas/ publishes",
                function.spec.name,
            );
        }
    }
    // Each instance in a file of its own, grouped by the schema it must meet.
    let recorded: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(calls)?)?;
    let dir = calls.with_extension("instances");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut by_type: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    // What answered 200: an error's body is no reply of the type.
    for (n, call) in recorded.iter().enumerate().filter(|(_, c)| c["status"] == 200) {
        let name = call["function"].as_str().unwrap_or_default();
        let accepts = functions.iter().find(|f| f.spec.name == name).map(|f| f.spec.accepts[0]);
        let pairs = [
            (accepts.map(str::to_owned), &call["data"], "in"),
            (call["reply_type"].as_str().map(str::to_owned), &call["reply"], "out"),
        ];
        for (ty, instance, side) in pairs {
            let Some(ty) = ty else { continue };
            let path = dir.join(format!("{n:03}-{side}-{ty}.json"));
            std::fs::write(&path, serde_json::to_vec(instance)?)?;
            by_type.entry(ty).or_default().push(path);
        }
    }
    let validator = root.join("target/tools/bin/check-jsonschema");
    let validate = |schema: &Path, instances: &[PathBuf], what: &str| -> anyhow::Result<()> {
        let output = std::process::Command::new(&validator)
            .arg("--schemafile")
            .arg(schema)
            .args(instances)
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "{what}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    };
    let mut checked = 0;
    for (ty, instances) in &by_type {
        let schema = root.join("schemas").join(format!("{ty}.json"));
        validate(&schema, instances, &format!("real {ty} data does not meet its schema"))?;
        checked += instances.len();
    }
    // A consumer reads its own view of another's event: the producer's real
    // events must meet it too, or the two have drifted apart.
    let mut consumers = 0;
    for function in functions.iter().filter(|f| f.kind == Kind::Consumer) {
        let Some(url) = urls.get(function.spec.name) else { continue };
        let served: Value = crate::observability::get_json(&format!("{url}/schema"))?;
        let schema = dir.join(format!("consumer-{}.json", function.spec.name));
        std::fs::write(&schema, serde_json::to_vec(&served["accepts"]["schema"])?)?;
        for ty in function.spec.accepts {
            let Some(events) = by_type.get(*ty).map(|paths| {
                paths.iter().filter(|p| p.to_string_lossy().contains("-out-")).cloned().collect::<Vec<_>>()
            }) else {
                continue;
            };
            if events.is_empty() {
                continue;
            }
            let what = format!("real {ty} events do not meet what {} reads", function.spec.name);
            validate(&schema, &events, &what)?;
            consumers += 1;
        }
    }
    anyhow::ensure!(checked > 0, "the smoke script recorded no calls");
    println!(
        "contracts: every function serves the published schemas; {checked} real requests and replies of {} types \
         meet them, and the real events of {consumers} (consumer, type) pairs meet what the consumer reads \
         (check-jsonschema)",
        by_type.len()
    );
    Ok(())
}
