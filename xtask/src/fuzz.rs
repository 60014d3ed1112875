//! `cargo xtask fuzz`: runs every libFuzzer target (cargo fuzz) for a bounded
//! time over its seeds and corpus, packs what it found into the committed
//! corpus, and reports executions per target. A crash is kept in
//! `fuzz/artifacts/<target>/` and fails the run; copied into
//! `fuzz/seeds/<target>/`, it is replayed by every `cargo xtask test`.
//!
//! The fuzzer's own corpus (thousands of files) lives in
//! `target/fuzz/corpus/<target>/`. What is committed is
//! `fuzz/corpus/<target>.b64`: the inputs that keep every edge it reached,
//! one per line in base64, so a fresh clone starts where the last run ended.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::services;

#[derive(clap::Args)]
pub struct Args {
    /// Seconds each target runs (libFuzzer reads 0 as "forever": not allowed).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// Only these targets (repeatable); every one by default.
    #[arg(long)]
    only: Vec<String>,
    /// Leave fuzz/corpus/<target>.b64 as it is.
    #[arg(long)]
    no_pack: bool,
}

/// What one target's run did.
struct Outcome {
    target: String,
    executions: u64,
    coverage: u64,
    corpus: usize,
    crashed: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let root = services::workspace_root();
    ensure_cargo_fuzz()?;
    let targets = targets(&root, &args.only)?;
    cargo_fuzz(&root, &["build"], &[])?;
    let mut outcomes = Vec::new();
    for target in &targets {
        let corpus = format!("target/fuzz/corpus/{target}");
        unpack(&root, target, &root.join(&corpus))?;
        eprintln!("fuzz: {target} for {} s", args.seconds);
        let log = root.join(format!("target/fuzz/{target}.log"));
        let libfuzzer = [format!("-max_total_time={}", args.seconds), "-print_final_stats=1".to_owned()];
        // New inputs go to the first folder: the working corpus, never the seeds.
        let crashed = !cargo_fuzz_logged(
            &root,
            &["run", target.as_str(), corpus.as_str(), &format!("fuzz/seeds/{target}")],
            &libfuzzer,
            &log,
        )?;
        let packed =
            if crashed || args.no_pack { None } else { Some(pack(&root, target, &root.join(&corpus))?) };
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        outcomes.push(Outcome {
            target: target.clone(),
            executions: stat(&text, "stat::number_of_executed_units:"),
            coverage: last_coverage(&text),
            corpus: packed.unwrap_or(0),
            crashed,
        });
    }
    println!(
        "\n| target | seconds | executions | executions/s | coverage (edges) | packed inputs | result |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    for o in &outcomes {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            o.target,
            args.seconds,
            o.executions,
            o.executions / args.seconds.max(1),
            o.coverage,
            o.corpus,
            if o.crashed { "CRASH: see fuzz/artifacts" } else { "no crash" }
        );
    }
    let crashed: Vec<&str> = outcomes.iter().filter(|o| o.crashed).map(|o| o.target.as_str()).collect();
    if !crashed.is_empty() {
        bail!("crashes in {}: the input is in fuzz/artifacts/<target>/", crashed.join(", "));
    }
    Ok(())
}

/// Adds the committed inputs of `target` to its working corpus.
fn unpack(root: &Path, target: &str, corpus: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(corpus)?;
    let packed = std::fs::read_to_string(root.join(format!("fuzz/corpus/{target}.b64"))).unwrap_or_default();
    for line in packed.lines() {
        let input = STANDARD.decode(line).with_context(|| format!("fuzz/corpus/{target}.b64: not base64"))?;
        // Named by content, as libFuzzer names its own, so nothing doubles.
        let name = format!("packed-{:016x}", fnv1a(&input));
        std::fs::write(corpus.join(name), input)?;
    }
    Ok(())
}

/// Writes `fuzz/corpus/<target>.b64`: the smallest set of the working
/// corpus that keeps every edge reached (libFuzzer's merge, counting edges
/// only), sorted. Returns how many inputs it holds.
fn pack(root: &Path, target: &str, corpus: &Path) -> anyhow::Result<usize> {
    let kept = root.join(format!("target/fuzz/packed/{target}"));
    let _ = std::fs::remove_dir_all(&kept);
    std::fs::create_dir_all(&kept)?;
    let binary = root.join(format!("target/x86_64-unknown-linux-gnu/release/{target}"));
    let merged = Command::new(&binary)
        .args(["-merge=1", "-use_cmp=0", "-use_value_profile=0", "-use_counters=0"])
        .arg(&kept)
        .arg(corpus)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("running {}", binary.display()))?;
    if !merged.success() {
        bail!("minimizing the corpus of {target} failed");
    }
    let mut lines = BTreeSet::new();
    for entry in std::fs::read_dir(&kept)? {
        lines.insert(STANDARD.encode(std::fs::read(entry?.path())?));
    }
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(root.join(format!("fuzz/corpus/{target}.b64")), text)?;
    Ok(lines.len())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The targets: one binary in `fuzz/fuzz_targets/` each (the replay test
/// checks that the library names the same ones).
fn targets(root: &Path, only: &[String]) -> anyhow::Result<Vec<String>> {
    let mut targets: Vec<String> = std::fs::read_dir(root.join("fuzz/fuzz_targets"))?
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_owned))
        .collect();
    targets.sort();
    if let Some(unknown) = only.iter().find(|t| !targets.contains(t)) {
        bail!("no fuzz target {unknown}: the targets are {}", targets.join(", "));
    }
    if !only.is_empty() {
        targets.retain(|t| only.contains(t));
    }
    Ok(targets)
}

fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let found = crate::services::cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Ok(());
    }
    eprintln!("fuzz: installing cargo-fuzz from crates.io");
    if !crate::services::cargo().args(["install", "cargo-fuzz", "--locked"]).status()?.success() {
        bail!("cargo install cargo-fuzz failed");
    }
    Ok(())
}

fn cargo_fuzz_command(root: &Path, args: &[&str], libfuzzer: &[String]) -> Command {
    let mut command = crate::services::cargo();
    command
        .arg("fuzz")
        .args(args)
        // Only the libFuzzer build has the binaries; the targets are safe Rust,
        // so their assertions and panics are the finding, and no sanitizer
        // keeps each run about twice as fast.
        .args(["--features", "libfuzzer", "--sanitizer", "none"])
        .current_dir(root)
        // cargo fuzz passes -Z flags (coverage instrumentation): the one
        // toolchain here is stable.
        .env("RUSTC_BOOTSTRAP", "1")
        // The release profile is for shipping: fat LTO would make every fuzz
        // build slow, and stripped symbols would hide where a crash was.
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "false");
    if !libfuzzer.is_empty() {
        command.arg("--").args(libfuzzer);
    }
    command
}

fn cargo_fuzz(root: &Path, args: &[&str], libfuzzer: &[String]) -> anyhow::Result<()> {
    let status = cargo_fuzz_command(root, args, libfuzzer).status().context("running cargo fuzz")?;
    if !status.success() {
        bail!("cargo fuzz {} failed", args.join(" "));
    }
    Ok(())
}

/// Runs cargo fuzz with its output in `log` too; whether it ended well.
fn cargo_fuzz_logged(root: &Path, args: &[&str], libfuzzer: &[String], log: &Path) -> anyhow::Result<bool> {
    if let Some(folder) = log.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let file = std::fs::File::create(log)?;
    let status = cargo_fuzz_command(root, args, libfuzzer)
        .stdout(file.try_clone()?)
        .stderr(file)
        .status()
        .context("running cargo fuzz")?;
    let text = std::fs::read_to_string(log).unwrap_or_default();
    // The end of the log says what happened: the stats, or the crash.
    let tail: Vec<&str> = text.lines().rev().take(25).collect();
    for line in tail.into_iter().rev() {
        eprintln!("  {line}");
    }
    Ok(status.success())
}

fn stat(log: &str, name: &str) -> u64 {
    log.lines().filter_map(|l| l.strip_prefix(name)?.trim().parse().ok()).next_back().unwrap_or(0)
}

/// The edge coverage libFuzzer last reported (`#N ... cov: C ft: F ...`).
fn last_coverage(log: &str) -> u64 {
    log.lines()
        .filter_map(|l| l.split_once(" cov: ")?.1.split_whitespace().next()?.parse().ok())
        .next_back()
        .unwrap_or(0)
}
