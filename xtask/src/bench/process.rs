//! The processes a benchmark runs (started as every binary here is:
//! `shared::testing::Launch`), measured and stopped, and the tools it needs
//! on the machine.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use shared::testing::{Launch, kill, stop, wait_listening};

/// A benchmarked process, stopped (SIGTERM) when dropped.
pub struct Process {
    pub child: Child,
    pub port: u16,
    pub started: Instant,
    stopped: bool,
}

impl Process {
    /// Starts `launch`, which listens on `port`.
    pub fn start(launch: &Launch, port: u16) -> anyhow::Result<Self> {
        let child = launch.spawn().with_context(|| format!("starting {}", launch.program.display()))?;
        Ok(Process { child, port, started: Instant::now(), stopped: false })
    }

    /// Kills it at once, as a crash would, and waits for it to go.
    pub fn crash(&mut self) {
        kill(&mut self.child);
        self.stopped = true;
    }

    pub fn wait_listening(&self) -> anyhow::Result<()> {
        wait_listening(self.port, Duration::from_secs(10)).map_err(anyhow::Error::msg)
    }

    /// Peak resident memory so far, in MiB (VmHWM).
    pub fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmHWM")?;
        Ok(kib / 1024.0)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if !self.stopped {
            stop(&mut self.child, Duration::from_secs(10));
        }
    }
}

/// Installs `tool` with `install` when it is missing and the bench runs as root.
pub fn need(tool: &str, install: &str) -> anyhow::Result<()> {
    if Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()?
        .success()
    {
        return Ok(());
    }
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    if root {
        eprintln!("bench: installing {tool}");
        let ok = Command::new("sh")
            .args(["-c", &format!("apt-get update -qq && DEBIAN_FRONTEND=noninteractive {install} -y -qq")])
            .status()?
            .success();
        if ok {
            return Ok(());
        }
    }
    bail!("{tool} is needed: {install}")
}
