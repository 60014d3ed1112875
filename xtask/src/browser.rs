//! The browser tests: each `scripts/browser/*.mjs`, run by Node.js with
//! Playwright driving Chromium against the local stack (its URLs in
//! `target/devstack/urls.json`); screenshots land in `target/browser/`.

use std::path::Path;

use anyhow::Context;

pub fn check(root: &Path) -> anyhow::Result<()> {
    let mut scripts: Vec<_> = std::fs::read_dir(root.join("scripts/browser"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "mjs"))
        .collect();
    scripts.sort();
    for script in scripts {
        let status = std::process::Command::new("node")
            .arg(&script)
            .arg(root.join("target/devstack/urls.json"))
            .env("TOOLS_NODE", root.join("target/tools/node"))
            .status()
            .with_context(|| format!("node {}", script.display()))?;
        anyhow::ensure!(status.success(), "the browser test {} failed", script.display());
    }
    Ok(())
}
