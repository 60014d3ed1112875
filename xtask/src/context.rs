//! The Docker build context, as `.dockerignore` leaves it: copied file by
//! file under `target/build-context`, then the workspace is compiled from
//! that copy alone, so a file the image build needs but does not get
//! (a workspace member, an `include_str!`, the migrations) fails the tests.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::services;

/// One `.dockerignore` line: a path pattern, or a `!` exception to it.
#[derive(Debug)]
struct Rule {
    pattern: String,
    include: bool,
}

/// `.dockerignore` as Docker reads it: comments and blank lines skipped,
/// each pattern cleaned of `./`, leading and trailing `/`; the last rule
/// that matches a path (or one of its parent folders) decides.
struct Ignore(Vec<Rule>);

impl Ignore {
    fn parse(text: &str) -> Ignore {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| {
                let (include, pattern) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, line),
                };
                let pattern = pattern.trim_start_matches("./").trim_matches('/').to_owned();
                Rule { pattern, include }
            })
            .collect();
        Ignore(rules)
    }

    /// Whether the build context holds `path` (relative, `/`-separated).
    fn keeps(&self, path: &str) -> bool {
        let mut kept = true;
        for rule in &self.0 {
            let matched = std::iter::once(path)
                .chain(parents(path))
                .any(|p| glob(rule.pattern.as_bytes(), p.as_bytes()));
            if matched {
                kept = rule.include;
            }
        }
        kept
    }

    /// Whether a folder can be skipped whole: excluded, and no exception
    /// could bring back anything inside it.
    fn skips_folder(&self, folder: &str) -> bool {
        !self.keeps(folder)
            && !self.0.iter().any(|r| r.include && r.pattern.starts_with(&format!("{folder}/")))
    }
}

/// `a/b/c` -> `a/b`, `a`.
fn parents(path: &str) -> impl Iterator<Item = &str> {
    path.char_indices()
        .filter(|(_, c)| *c == '/')
        .map(|(i, _)| &path[..i])
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
}

/// Go's `filepath.Match` as Docker extends it: `*` and `?` stop at `/`,
/// `**` crosses folders (`**/` also matches no folder at all), `[...]`
/// classes, `\` escapes.
fn glob(pattern: &[u8], path: &[u8]) -> bool {
    match pattern {
        [] => path.is_empty(),
        [b'*', b'*', rest @ ..] => {
            if let [b'/', after @ ..] = rest
                && glob(after, path)
            {
                return true;
            }
            (0..=path.len()).any(|i| glob(rest, &path[i..]))
        }
        [b'*', rest @ ..] => {
            let stop = path.iter().position(|&c| c == b'/').unwrap_or(path.len());
            (0..=stop).any(|i| glob(rest, &path[i..]))
        }
        [b'?', rest @ ..] => matches!(path, [c, tail @ ..] if *c != b'/' && glob(rest, tail)),
        [b'[', rest @ ..] => {
            let Some(end) = rest.iter().skip(1).position(|&c| c == b']').map(|i| i + 1) else {
                return false;
            };
            let (class, after) = (&rest[..end], &rest[end + 1..]);
            let Some((&c, tail)) = path.split_first() else { return false };
            let (negated, class) = match class {
                [b'^' | b'!', inner @ ..] => (true, inner),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            c != b'/' && hit != negated && glob(after, tail)
        }
        [b'\\', escaped, rest @ ..] => matches!(path, [c, tail @ ..] if c == escaped && glob(rest, tail)),
        [literal, rest @ ..] => matches!(path, [c, tail @ ..] if c == literal && glob(rest, tail)),
    }
}

/// Copies what the build context holds into `dest`; returns how many files.
fn copy_context(root: &Path, dest: &Path, ignore: &Ignore) -> anyhow::Result<usize> {
    if dest.exists() {
        std::fs::remove_dir_all(dest)?;
    }
    let mut copied = 0;
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        for entry in std::fs::read_dir(root.join(&relative))? {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            let name = path.to_string_lossy().replace('\\', "/");
            if entry.file_type()?.is_dir() {
                if !ignore.skips_folder(&name) {
                    stack.push(path);
                }
            } else if ignore.keeps(&name) {
                let target = dest.join(&path);
                std::fs::create_dir_all(target.parent().context("a file without a folder")?)?;
                std::fs::copy(entry.path(), target)?;
                copied += 1;
            }
        }
    }
    Ok(copied)
}

/// Copies the build context and compiles every binary of the workspace
/// from it with the committed lock file, as the image build
/// does (dependencies already built for the workspace are reused).
pub fn check() -> anyhow::Result<()> {
    let root = services::workspace_root();
    let ignore = Ignore::parse(&std::fs::read_to_string(root.join(".dockerignore")).unwrap_or_default());
    let dest = root.join("target/build-context");
    let files = copy_context(&root, &dest, &ignore)?;
    println!("context: the Docker build context holds {files} files; compiling the workspace from it");
    let status = crate::services::cargo()
        .args(["check", "--workspace", "--bins", "--locked", "--quiet", "--target-dir"])
        .arg(root.join("target"))
        .current_dir(&dest)
        .status()
        .context("cargo check in the build context")?;
    if !status.success() {
        bail!("the workspace does not compile from the Docker build context: see .dockerignore");
    }
    println!("context: every binary compiles from the build context");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_docker_matches_them() {
        assert!(glob(b"*.md", b"README.md"));
        assert!(!glob(b"*.md", b"docs/architecture.md"), "* does not cross /");
        assert!(glob(b"**/*.md", b"docs/architecture.md"));
        assert!(glob(b"**/*.md", b"README.md"), "**/ matches no folder too");
        assert!(glob(b"bench/*", b"bench/hello"));
        assert!(glob(b"ta?get", b"target"));
        assert!(glob(b"[a-c]at", b"bat") && !glob(b"[^a-c]at", b"bat"));
        assert!(!glob(b"bench", b"bench/hello"));
    }

    #[test]
    fn the_last_matching_rule_decides_and_folders_carry_their_files() {
        let ignore = Ignore::parse("# comment\ntarget/\n*.md\nbench/*\n!bench/hello\n./docs/\n");
        assert!(!ignore.keeps("target/debug/x"));
        assert!(!ignore.keeps("README.md"));
        assert!(ignore.keeps("shared/README.md"));
        assert!(!ignore.keeps("bench/wrk.lua"));
        assert!(ignore.keeps("bench/hello/Cargo.toml"));
        assert!(!ignore.keeps("docs/architecture.md"));
        assert!(ignore.skips_folder("target") && !ignore.skips_folder("bench"));
    }
}
