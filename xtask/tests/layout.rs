//! The layout the project promises, checked: one binary of a few lines per
//! function, every module opening with a line on its job, migrations in order,
//! every script with a shebang runnable.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn function_binaries() -> Vec<PathBuf> {
    let mut bins = Vec::new();
    for slice in fs::read_dir(root().join("functions")).unwrap() {
        let dir = slice.unwrap().path().join("src/bin");
        if dir.is_dir() {
            rust_files(&dir, &mut bins);
        }
    }
    bins
}

#[test]
fn every_function_binary_is_a_few_lines_naming_its_handler() {
    let bins = function_binaries();
    assert!(bins.len() >= 11, "found only {} function binaries", bins.len());
    let mut names = BTreeSet::new();
    for bin in bins {
        let name = bin.file_stem().unwrap().to_str().unwrap().to_owned();
        let text = fs::read_to_string(&bin).unwrap();
        assert!(
            text.starts_with(&format!("//! {name}: ")),
            "{} must open with `//! {name}: <its job>`",
            bin.display()
        );
        let code: Vec<_> = text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("//")).collect();
        assert!(
            code.len() <= 3,
            "{} has {} lines of code; a main names its handler and no more",
            bin.display(),
            code.len()
        );
        assert!(text.contains("shared::serve("), "{} must run through shared::serve", bin.display());
        assert!(names.insert(name.clone()), "two binaries are named {name}");
    }
}

#[test]
fn every_module_says_what_it_is_for() {
    let mut files = Vec::new();
    rust_files(&root().join("shared/src"), &mut files);
    for slice in fs::read_dir(root().join("functions")).unwrap() {
        rust_files(&slice.unwrap().path().join("src"), &mut files);
    }
    rust_files(&root().join("xtask/src"), &mut files);
    for file in files {
        let first = fs::read_to_string(&file).unwrap().lines().next().unwrap_or_default().to_owned();
        assert!(first.starts_with("//! "), "{} must open with a `//!` line on its job", file.display());
    }
}

#[test]
fn migrations_are_numbered_in_order() {
    let mut names: Vec<String> = fs::read_dir(root().join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for (i, name) in names.iter().enumerate() {
        let expected = format!("{:04}_", i + 1);
        assert!(
            name.starts_with(&expected) && name.ends_with(".sql"),
            "migration {name} should start with {expected}"
        );
    }
}

/// Every file in `dir` and below.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files_under(&path, out) } else { out.push(path) }
    }
}

#[test]
fn every_script_with_a_shebang_runs_as_the_readme_calls_it() {
    use std::os::unix::fs::PermissionsExt;
    let mut scripts = Vec::new();
    files_under(&root().join("scripts"), &mut scripts);
    let mut not_runnable = Vec::new();
    for script in scripts {
        let Ok(text) = std::fs::read_to_string(&script) else { continue };
        let mode = std::fs::metadata(&script).unwrap().permissions().mode();
        if text.starts_with("#!") && mode & 0o111 == 0 {
            not_runnable.push(script.strip_prefix(root()).unwrap().display().to_string());
        }
    }
    assert!(
        not_runnable.is_empty(),
        "a shebang without the run bit (git update-index --chmod=+x): {not_runnable:?}"
    );
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains("scripts/smoke.py ksvc.json"), "the README runs the smoke script directly");
}

#[test]
fn the_readmes_install_is_the_kind_jobs() {
    let read = |path: &str| std::fs::read_to_string(root().join(path)).unwrap();
    let (readme, workflow, script) =
        (read("README.md"), read(".github/workflows/ci.yml"), read("scripts/cluster/up.sh"));
    let kind_job = workflow.split("\n  kind:\n").nth(1).unwrap().split("\n  deploy:\n").next().unwrap();
    assert!(readme.contains("\nscripts/cluster/up.sh\n"), "the README runs the script");
    assert!(kind_job.contains("scripts/cluster/up.sh"), "the kind job runs the same script");
    for step in [
        "scripts/cluster/prerequisites.sh",
        "scripts/cluster/kind.sh",
        "scripts/cluster/budget.py report",
        "helm upgrade --install",
        "scripts/smoke.py",
    ] {
        assert!(script.contains(step), "up.sh runs {step}");
        assert!(
            !kind_job.contains(step) || step == "scripts/smoke.py",
            "the kind job does not run {step} beside the script"
        );
    }
}

#[test]
fn images_loaded_into_kind_carry_no_attestations() {
    // kind load docker-image fails on an image index with attestation
    // manifests (kubernetes-sigs/kind #3795), which buildx adds by default.
    let workflow: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(root().join(".github/workflows/ci.yml")).unwrap())
            .unwrap();
    let loads: Vec<&serde_norway::Value> = workflow["jobs"]["images"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|s| s["with"]["load"] == serde_norway::Value::Bool(true))
        .collect();
    assert!(!loads.is_empty(), "the images job loads the images the kind job uses");
    for step in loads {
        assert_eq!(step["with"]["provenance"], serde_norway::Value::Bool(false), "{step:?}");
    }
    let up = std::fs::read_to_string(root().join("scripts/cluster/up.sh")).unwrap();
    assert!(up.contains("docker buildx bake --file docker-bake.json --load --provenance=false"));
}
