//! The local stack's kubelet: every process it starts is restarted when it
//! exits, after a back-off that doubles up to 30 s (reset once it has run
//! for a minute), and each restart is logged; stopping sends SIGTERM to all.

use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use shared::testing::{Launch, stop};

/// A process to keep running: its name, and how to start it again and again.
#[derive(Clone)]
pub struct Recipe {
    pub name: String,
    pub launch: Launch,
}

impl Recipe {
    fn spawn(&self) -> std::io::Result<Child> {
        self.launch.spawn()
    }
}

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a stopped process may drain (SIGTERM) before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Running this long resets the back-off: the process had recovered.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);

struct Process {
    recipe: Recipe,
    child: Option<Child>,
    started: Instant,
    backoff: Duration,
    restart_at: Option<Instant>,
    restarts: u32,
    /// Stopped on purpose: not restarted until released.
    held: bool,
}

/// Processes kept running until this is dropped.
pub struct Supervisor {
    processes: Arc<Mutex<Vec<Process>>>,
    stopping: Arc<AtomicBool>,
    watcher: Option<JoinHandle<()>>,
}

impl Supervisor {
    pub fn new() -> Supervisor {
        let processes: Arc<Mutex<Vec<Process>>> = Arc::default();
        let stopping: Arc<AtomicBool> = Arc::default();
        let watcher = {
            let (processes, stopping) = (processes.clone(), stopping.clone());
            std::thread::spawn(move || {
                while !stopping.load(Ordering::SeqCst) {
                    if let Ok(mut processes) = processes.lock() {
                        processes.iter_mut().for_each(watch);
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        };
        Supervisor { processes, stopping, watcher: Some(watcher) }
    }

    /// Starts a process and keeps it running.
    pub fn start(&self, recipe: Recipe) -> anyhow::Result<()> {
        let child = recipe.spawn().with_context(|| format!("starting {}", recipe.name))?;
        let process = Process {
            recipe,
            child: Some(child),
            started: Instant::now(),
            backoff: FIRST_BACKOFF,
            restart_at: None,
            restarts: 0,
            held: false,
        };
        self.processes.lock().map_err(|_| anyhow::anyhow!("the supervisor failed"))?.push(process);
        Ok(())
    }

    /// Stops a process (SIGTERM, so it drains) and keeps it down, as a
    /// Deployment scaled to zero is, until [`Supervisor::release`].
    pub fn hold(&self, name: &str) -> anyhow::Result<()> {
        let mut processes = self.processes.lock().map_err(|_| anyhow::anyhow!("the supervisor failed"))?;
        let process = processes.iter_mut().find(|p| p.recipe.name == name).context("no such process")?;
        process.held = true;
        if let Some(mut child) = process.child.take() {
            stop(&mut child, STOP_GRACE);
        }
        Ok(())
    }

    /// Starts a held process again.
    pub fn release(&self, name: &str) -> anyhow::Result<()> {
        let mut processes = self.processes.lock().map_err(|_| anyhow::anyhow!("the supervisor failed"))?;
        let process = processes.iter_mut().find(|p| p.recipe.name == name).context("no such process")?;
        process.held = false;
        process.child = Some(process.recipe.spawn().with_context(|| format!("starting {name}"))?);
        process.started = Instant::now();
        process.restart_at = None;
        Ok(())
    }

    /// How a process is started, by name (to start one more like it).
    pub fn recipe(&self, name: &str) -> Option<Recipe> {
        let processes = self.processes.lock().ok()?;
        processes.iter().find(|p| p.recipe.name == name).map(|p| p.recipe.clone())
    }

    /// Every process's name and id, of those running.
    pub fn pids(&self) -> Vec<(String, u32)> {
        let Ok(processes) = self.processes.lock() else { return Vec::new() };
        processes.iter().filter_map(|p| Some((p.recipe.name.clone(), p.child.as_ref()?.id()))).collect()
    }

    /// The process id of a running process, by name.
    pub fn pid(&self, name: &str) -> Option<u32> {
        let processes = self.processes.lock().ok()?;
        processes.iter().find(|p| p.recipe.name == name)?.child.as_ref().map(Child::id)
    }
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor::new()
    }
}

/// One look at a process: note an exit, restart when its back-off is over.
fn watch(process: &mut Process) {
    if process.held {
        return;
    }
    if let Some(child) = &mut process.child
        && let Ok(Some(status)) = child.try_wait()
    {
        process.child = None;
        if process.started.elapsed() > HEALTHY_AFTER {
            process.backoff = FIRST_BACKOFF;
        }
        println!(
            "dev: {} exited ({status}); restarting it in {} s",
            process.recipe.name,
            process.backoff.as_secs()
        );
        process.restart_at = Some(Instant::now() + process.backoff);
        process.backoff = (process.backoff * 2).min(MAX_BACKOFF);
    }
    if process.child.is_none() && process.restart_at.is_some_and(|at| Instant::now() >= at) {
        match process.recipe.spawn() {
            Ok(child) => {
                process.restarts += 1;
                println!("dev: {} restarted (restart {})", process.recipe.name, process.restarts);
                process.child = Some(child);
                process.started = Instant::now();
                process.restart_at = None;
            }
            Err(e) => {
                println!("dev: {} could not be restarted: {e}; trying again", process.recipe.name);
                process.restart_at = Some(Instant::now() + process.backoff);
            }
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
        if let Ok(mut processes) = self.processes.lock() {
            for process in processes.iter_mut() {
                if let Some(child) = &mut process.child {
                    stop(child, STOP_GRACE);
                }
            }
        }
    }
}
