//! The supply-chain check of `cargo xtask test`: `cargo deny` with the
//! committed `deny.toml` (licenses, bans, sources and RustSec advisories).

use std::process::Stdio;

use anyhow::bail;

use crate::services;

/// The cargo-deny this project's `deny.toml` is written for.
const CARGO_DENY: &str = "0.20.2";

pub fn run() -> anyhow::Result<()> {
    ensure_cargo_deny()?;
    if !deny(&["licenses", "bans", "sources"])?.0 {
        bail!("cargo deny: a license, a banned crate or a source is not allowed (see deny.toml)");
    }
    // Advisories need the RustSec database, cloned from GitHub. Where GitHub
    // is out of reach that is said, loudly; GitHub Actions always checks them.
    let (ok, output) = deny(&["advisories"])?;
    if !ok {
        if output.contains("failed to fetch advisory database") {
            eprintln!(
                "cargo deny: ADVISORIES NOT CHECKED: the RustSec database (github.com/RustSec/advisory-db) \
                 cannot be fetched from this machine"
            );
            return Ok(());
        }
        bail!("cargo deny: a dependency has a security advisory (see above)");
    }
    Ok(())
}

fn ensure_cargo_deny() -> anyhow::Result<()> {
    let version = crate::services::cargo().args(["deny", "--version"]).stderr(Stdio::null()).output();
    if version.is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(CARGO_DENY)) {
        return Ok(());
    }
    eprintln!("audit: installing cargo-deny {CARGO_DENY} from crates.io");
    let installed = crate::services::cargo()
        .args(["install", "cargo-deny", "--locked", "--version", CARGO_DENY])
        .status()?
        .success();
    if !installed {
        bail!("cargo install cargo-deny failed");
    }
    Ok(())
}

/// Runs `cargo deny check <checks>`, its output passed through; whether it
/// passed, and what it printed.
fn deny(checks: &[&str]) -> anyhow::Result<(bool, String)> {
    let output = crate::services::cargo()
        .args(["deny", "--color", "never", "check"])
        .args(checks)
        .current_dir(services::workspace_root())
        .output()?;
    // Findings go to stderr, the one-line verdict to stdout.
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    let verdict = String::from_utf8_lossy(&output.stdout);
    for line in text.lines().filter(|l| l.starts_with("error")).chain(verdict.lines()) {
        eprintln!("cargo deny check {}: {line}", checks.join(" "));
    }
    Ok((output.status.success(), text))
}
