//! The processes a benchmark runs: started, awaited, measured and stopped,
//! and the tools it needs on the machine.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A benchmarked process, stopped (SIGTERM) when dropped.
pub struct Process {
    pub child: Child,
    pub port: u16,
    pub started: Instant,
    stopped: bool,
}

impl Process {
    pub fn new(child: Child, port: u16) -> Self {
        Process { child, port, started: Instant::now(), stopped: false }
    }

    /// Kills it at once, as a crash would, and waits for it to go.
    pub fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stopped = true;
    }

    pub fn wait_listening(&self) -> anyhow::Result<()> {
        wait_listening(self.port, Duration::from_secs(10))
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
            stop(&mut self.child);
        }
    }
}

fn wait_listening(port: u16, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > limit {
            bail!("nothing listens on {port}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
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
