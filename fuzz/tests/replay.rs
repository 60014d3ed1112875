//! Replays every committed seed and corpus input through its fuzz target, so
//! an input that once broke a rule is checked on every test run.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use skybook_fuzz::TARGETS;

const FOLDERS: [&str; 2] = ["seeds", "corpus"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn inputs(folder: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root().join(folder).join(target)) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.expect("a readable corpus folder").path()).collect();
    files.sort();
    files
}

#[test]
fn every_seed_and_corpus_input_keeps_its_targets_rules() {
    let mut failures = Vec::new();
    for (name, target) in TARGETS {
        let files: Vec<PathBuf> = FOLDERS.iter().flat_map(|folder| inputs(folder, name)).collect();
        assert!(!files.is_empty(), "the target {name} has no seed in fuzz/seeds/{name}");
        for file in files {
            let data = std::fs::read(&file).expect("a readable corpus file");
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| target(&data))) {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{}: {message}", file.display()));
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
