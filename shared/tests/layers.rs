//! Holds `shared` to the layers `lib.rs` declares: a module may import from
//! its own layer or an earlier one, never from a later one, and no modules
//! import each other round a cycle, within a layer either.

use std::collections::{BTreeMap, BTreeSet};
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

/// Every `crate::<module>` a source file names, `crate::{a::…, b}` included.
fn imports(source: &str) -> Vec<String> {
    let word =
        |text: &str| -> String { text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    let mut found = Vec::new();
    for (at, prefix) in source.match_indices("crate::") {
        if source[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &source[at + prefix.len()..];
        let Some(group) = rest.strip_prefix('{') else {
            found.push(word(rest));
            continue;
        };
        // The names at the group's own depth, each the first of its path.
        let (mut depth, mut start) = (0, true);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => start = true,
                c if start && !c.is_whitespace() => {
                    found.push(word(&group[i..]));
                    start = false;
                }
                _ => {}
            }
        }
    }
    found
}

/// Which module each module imports: `module -> modules`, itself left out.
fn graph(src: &Path, layers: &BTreeMap<String, u32>) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    sources(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(src).unwrap();
        let module = relative.iter().next().unwrap().to_str().unwrap().trim_end_matches(".rs").to_owned();
        if !layers.contains_key(&module) {
            continue;
        }
        for imported in imports(&std::fs::read_to_string(file).unwrap()) {
            if imported != module && layers.contains_key(&imported) {
                graph.entry(module.clone()).or_default().insert(imported);
            }
        }
    }
    graph
}

/// The cycles of a graph, each as its modules in order, first the least.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        found: &mut BTreeSet<Vec<String>>,
    ) {
        let last = path.last().unwrap().clone();
        for next in graph.get(&last).into_iter().flatten() {
            if let Some(at) = path.iter().position(|m| m == next) {
                let mut cycle = path[at..].to_vec();
                let least = (0..cycle.len()).min_by_key(|&i| &cycle[i]).unwrap();
                cycle.rotate_left(least);
                found.insert(cycle);
            } else if path.len() < 12 {
                path.push(next.clone());
                walk(graph, path, found);
                path.pop();
            }
        }
    }
    let mut found = BTreeSet::new();
    for start in graph.keys() {
        walk(graph, &mut vec![start.clone()], &mut found);
    }
    found
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
fn no_modules_import_each_other_round_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layers = layers(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let graph = graph(&src, &layers);
    assert!(graph.values().map(BTreeSet::len).sum::<usize>() > 20, "the imports are read: {graph:?}");
    let cycles: Vec<String> = cycles(&graph).into_iter().map(|c| c.join(" -> ")).collect();
    assert!(cycles.is_empty(), "modules that import each other round a cycle:\n{}", cycles.join("\n"));
}

/// The modules only a feature builds (`#[cfg(feature = "functions")]`, or
/// `testing`, which implies it, on the line before their `pub mod`).
fn gated(lib: &str) -> BTreeSet<String> {
    let lines: Vec<&str> = lib.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|pair| pair[0].starts_with("#[cfg(feature = "))
        .filter_map(|pair| pair[1].strip_prefix("pub mod ")?.strip_suffix(';').map(str::to_owned))
        .collect()
}

#[test]
fn what_the_broker_builds_imports_nothing_only_the_functions_feature_builds() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let (layers, gated) = (layers(&lib), gated(&lib));
    assert!(gated.contains("db") && gated.contains("server") && !gated.contains("http"), "{gated:?}");
    let mut breaches = Vec::new();
    for (module, imports) in graph(&src, &layers) {
        if gated.contains(&module) {
            continue;
        }
        for imported in imports.intersection(&gated) {
            breaches.push(format!("{module} imports {imported}"));
        }
    }
    assert!(
        breaches.is_empty(),
        "modules built without `functions` import ones built only with it: {breaches:?}"
    );
}

#[test]
fn a_cycle_is_found() {
    let graph: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
        .into_iter()
        .fold(BTreeMap::new(), |mut g, (from, to)| {
            g.entry(from.to_owned()).or_default().insert(to.to_owned());
            g
        });
    assert_eq!(cycles(&graph), [vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]].into_iter().collect());
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
    assert_eq!(
        imports("use crate::{config::{Settings, de}, http::Body,\n    redis};"),
        ["config", "http", "redis"]
    );
}
