//! Bundles the API documents `cargo xtask manifests` writes to
//! `schemas/api/` into one JSON the docs page loads: `{"openapi": {name:
//! document}, "asyncapi": document}`.

use std::path::Path;

fn main() {
    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/api");
    println!("cargo::rerun-if-changed={}", api.display());
    let read = |path: &Path| -> serde_json::Value {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let mut openapi = serde_json::Map::new();
    let mut entries: Vec<_> = std::fs::read_dir(api.join("openapi"))
        .expect("schemas/api/openapi: run `cargo xtask manifests`")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    entries.sort();
    for path in entries {
        println!("cargo::rerun-if-changed={}", path.display());
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        openapi.insert(name, read(&path));
    }
    let bundle = serde_json::json!({"openapi": openapi, "asyncapi": read(&api.join("asyncapi.json"))});
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("api.json");
    std::fs::write(out, bundle.to_string()).expect("writing the bundle");
}
