//! Holds `shared` to the layers `lib.rs` declares: a module may import from
//! its own layer or an earlier one, never from a later one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layer of each module, numbered in the order `lib.rs` lists them: a
/// `// N. …` comment opens layer N, and each `pub mod` below it is in it.
fn layers(lib: &str) -> BTreeMap<String, u32> {
    let mut layer = 0;
    let mut layers = BTreeMap::new();
    for line in lib.lines().map(str::trim) {
        if let Some(number) = line.strip_prefix("// ").and_then(|rest| rest.split_once(". ")) {
            layer = number.0.parse().expect("a layer comment is `// N. Name`");
        } else if let Some(module) = line.strip_prefix("pub mod ").and_then(|m| m.strip_suffix(';')) {
            layers.insert(module.to_owned(), layer);
        }
    }
    layers
}

/// Every `crate::<module>` a source file names.
fn imports(source: &str) -> Vec<String> {
    source
        .match_indices("crate::")
        .filter(|(at, _)| !source[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
        .map(|(at, found)| {
            source[at + found.len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
        })
        .collect()
}

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn no_module_imports_from_a_later_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layers = layers(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    assert!(
        layers.len() > 10 && layers.values().all(|&layer| layer > 0),
        "lib.rs declares its layers: {layers:?}"
    );
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut breaches = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let module = relative.iter().next().unwrap().to_str().unwrap().trim_end_matches(".rs");
        // The crate root and the binaries sit above every layer.
        let Some(&own) = layers.get(module) else { continue };
        for imported in imports(&std::fs::read_to_string(file).unwrap()) {
            if layers.get(&imported).is_some_and(|&layer| layer > own) {
                breaches.push(format!("{} (layer {own}) imports crate::{imported}", relative.display()));
            }
        }
    }
    breaches.sort();
    breaches.dedup();
    assert!(breaches.is_empty(), "imports from a later layer:\n{}", breaches.join("\n"));
}

#[test]
fn an_import_from_a_later_layer_is_found() {
    let layers = layers("// 1. Low\npub mod error;\n\n// 2. High\npub mod function;\n");
    assert_eq!(layers["error"], 1);
    assert_eq!(layers["function"], 2);
    assert_eq!(
        imports("use crate::function::Ctx;\nlet x = crate::error::Error::x; notcrate::db"),
        ["function", "error"]
    );
}
