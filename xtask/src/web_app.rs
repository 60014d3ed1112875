//! The web app's build: `functions/web/app`, TypeScript type-checked by tsc
//! and bundled by Vite (both pinned in its package-lock.json) into
//! `app/dist`, which the serve-web function embeds. A generated file like
//! the manifests: `cargo xtask manifests` writes it, `--check` fails when
//! the sources changed and it did not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The built files, by their place in `app/dist`.
pub fn files(root: &Path) -> anyhow::Result<BTreeMap<PathBuf, String>> {
    let app = root.join("functions/web/app");
    if !app.join("node_modules/.bin/vite").exists() {
        let status = Command::new("npm")
            .args(["ci", "--silent", "--no-audit", "--no-fund"])
            .current_dir(&app)
            .status()
            .context("npm ci in functions/web/app")?;
        if !status.success() {
            bail!("npm ci failed in functions/web/app");
        }
    }
    let out = root.join("target/web-dist");
    let _ = std::fs::remove_dir_all(&out);
    let built = Command::new("npm")
        .args(["run", "--silent", "build", "--", "--logLevel", "warn", "--outDir"])
        .arg(&out)
        .current_dir(&app)
        .output()
        .context("npm run build in functions/web/app")?;
    if !built.status.success() {
        bail!(
            "the web app does not build:\n{}{}",
            String::from_utf8_lossy(&built.stdout),
            String::from_utf8_lossy(&built.stderr)
        );
    }
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&out)? {
        let path = entry?.path();
        let name = path.file_name().context("a file name")?.to_owned();
        files.insert(app.join("dist").join(name), std::fs::read_to_string(&path)?);
    }
    Ok(files)
}

/// What `app/dist` holds that the build no longer makes.
pub fn stale(root: &Path, files: &BTreeMap<PathBuf, String>) -> Vec<PathBuf> {
    std::fs::read_dir(root.join("functions/web/app/dist"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !files.contains_key(p))
        .collect()
}
