//! Replays every committed input through its fuzz target: the seeds
//! (`fuzz/seeds/<target>/`, one file each, regressions among them) and the
//! corpus the fuzzer grew (`fuzz/corpus/<target>.b64`, one base64 line each),
//! so an input that once broke a rule is checked on every test run.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use skybook_fuzz::TARGETS;

const FOLDERS: [&str; 2] = ["seeds", "corpus"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every committed input of `target`, each with where it comes from.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut inputs = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root().join("seeds").join(target)) {
        for path in entries.map(|e| e.expect("a readable seed folder").path()) {
            inputs.push((path.display().to_string(), std::fs::read(&path).expect("a readable seed")));
        }
    }
    let packed = format!("corpus/{target}.b64");
    let text = std::fs::read_to_string(root().join(&packed)).unwrap_or_default();
    for (number, line) in text.lines().enumerate() {
        let input = STANDARD.decode(line).unwrap_or_else(|e| panic!("{packed}:{}: {e}", number + 1));
        inputs.push((format!("{packed}:{}", number + 1), input));
    }
    inputs
}

#[test]
fn every_seed_and_corpus_input_keeps_its_targets_rules() {
    let mut failures = Vec::new();
    for (name, target) in TARGETS {
        let inputs = inputs(name);
        assert!(!inputs.is_empty(), "the target {name} has no seed in fuzz/seeds/{name}");
        for (origin, data) in inputs {
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| target(&data))) {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{origin}: {message}"));
            }
        }
    }
    assert!(failures.is_empty(), "inputs that break a rule:\n{}", failures.join("\n"));
}

#[test]
fn every_target_has_a_binary_and_every_folder_a_target() {
    for (name, _) in TARGETS {
        assert!(
            root().join("fuzz_targets").join(format!("{name}.rs")).is_file(),
            "no fuzz_targets/{name}.rs"
        );
    }
    for folder in FOLDERS.iter().map(|f| root().join(f)).chain([root().join("fuzz_targets")]) {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries {
            let path = entry.expect("a readable folder").path();
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
            assert!(TARGETS.iter().any(|(name, _)| *name == stem), "{} names no target", path.display());
        }
    }
}
