//! Workspace binaries run as processes of their own: the one way the tests,
//! the benchmark, the local stack's supervisor and the surface test start
//! one ([`Launch`]), wait for it to listen, and stop it; and the one port
//! picker they all take ports from.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::db::pool_mode;

/// A binary of this workspace, as `cargo build` left it in the target directory.
pub fn binary(name: &str) -> PathBuf {
    // Test executables live in target/<profile>/deps; binaries one level up.
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: `cargo build --workspace --bins` (cargo xtask test does)",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1, and none this process has handed out
/// before: tests (and the benchmarks' processes) start side by side, and a
/// process given a port may not have bound it yet when the next is picked
/// (the port is free when asked; a process outside may still take it after).
pub fn free_port() -> u16 {
    loop {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        if hand_out(port) {
            return port;
        }
    }
}

/// The first port from `start` up that is free and not handed out before:
/// the local stack's, which stay put from run to run.
pub fn free_port_from(start: u16) -> Option<u16> {
    (start..u16::MAX).find(|port| std::net::TcpListener::bind(("0.0.0.0", *port)).is_ok() && hand_out(*port))
}

fn hand_out(port: u16) -> bool {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    HANDED_OUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(port)
}

/// Where a started process's output goes.
#[derive(Debug, Clone)]
pub enum Output {
    Null,
    /// To this process's own stdout and stderr.
    Inherit,
    /// Its errors to this process's stderr, the rest nowhere.
    Stderr,
    /// Appended to a file.
    Append(PathBuf),
}

/// How to start a binary, again and again: its program, arguments and
/// environment (every binary here reads its settings from the environment).
#[derive(Debug, Clone)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Start from an empty environment (`PATH` kept), as a container does;
    /// otherwise from this process's, `env` over it.
    pub clean: bool,
    pub output: Output,
}

impl Launch {
    pub fn new(program: impl Into<PathBuf>) -> Launch {
        Launch {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            clean: false,
            output: Output::Null,
        }
    }

    pub fn args<S: ToString>(mut self, args: impl IntoIterator<Item = S>) -> Launch {
        self.args.extend(args.into_iter().map(|a| a.to_string()));
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Launch {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn envs<K: ToString, V: ToString>(mut self, env: impl IntoIterator<Item = (K, V)>) -> Launch {
        self.env.extend(env.into_iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    pub fn clean(mut self) -> Launch {
        self.clean = true;
        self
    }

    pub fn output(mut self, output: Output) -> Launch {
        self.output = output;
        self
    }

    pub fn spawn(&self) -> std::io::Result<Child> {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        if self.clean {
            command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let (stdout, stderr) = match &self.output {
            Output::Null => (Stdio::null(), Stdio::null()),
            Output::Inherit => (Stdio::inherit(), Stdio::inherit()),
            Output::Stderr => (Stdio::null(), Stdio::inherit()),
            Output::Append(path) => {
                let file = || std::fs::OpenOptions::new().create(true).append(true).open(path);
                (file()?.into(), file()?.into())
            }
        };
        command.stdout(stdout).stderr(stderr).spawn()
    }
}

/// Waits until something accepts connections on `127.0.0.1:port`.
pub fn wait_listening(port: u16, limit: Duration) -> Result<(), String> {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > limit {
            return Err(format!("nothing listens on {port} after {} s", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// SIGTERM, as Knative stops a pod, then waits `grace` for the process to
/// drain and exit; past it, SIGKILL. Its exit status, when it had one.
pub fn stop(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(child);
    None
}

/// SIGKILL at once, as a crash would, and waits for the process to go.
pub fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A binary run as a process of its own, on a port of its own: started,
/// killed (SIGKILL, as a crash) and started again by the test.
pub struct TestProcess {
    pub port: u16,
    pub url: String,
    launch: Launch,
    child: Option<Child>,
}

impl TestProcess {
    /// Starts `program` with `PORT` set, and waits until it accepts connections.
    pub async fn start(program: PathBuf, args: &[&str], env: &[(&str, &str)]) -> TestProcess {
        TestProcess::launch(Launch::new(program).args(args).envs(env.iter().copied())).await
    }

    /// Like [`TestProcess::start`], with everything the process logs
    /// (stdout and stderr) appended to `log`.
    pub async fn start_logged(program: PathBuf, env: &[(&str, &str)], log: PathBuf) -> TestProcess {
        TestProcess::launch(Launch::new(program).envs(env.iter().copied()).output(Output::Append(log))).await
    }

    /// Starts what `launch` says, on a port of its own, as the tests run
    /// every function: the test's log level, identities off unless given,
    /// the pool mode of the test database.
    async fn launch(launch: Launch) -> TestProcess {
        let port = free_port();
        let output = match (&launch.output, std::env::var("TEST_LOG").is_ok()) {
            (Output::Null, true) => Output::Inherit,
            (output, _) => output.clone(),
        };
        let mut defaults = Launch::new(launch.program.clone())
            .args(launch.args.iter())
            .env("PORT", port.to_string())
            .env("RUST_LOG", std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into()))
            .env("LOG_FORMAT", "pretty")
            // Tests that check keys set them; the rest run as the local stack does.
            .env("AUTH_DISABLED", "true")
            .env("DB_POOL_MODE", pool_mode())
            .envs(launch.env.iter().cloned())
            .output(output);
        defaults.clean = launch.clean;
        let mut process =
            TestProcess { port, url: format!("http://127.0.0.1:{port}"), launch: defaults, child: None };
        process.restart().await;
        process
    }

    /// SIGTERM, as Knative stops a pod, and waits for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the process is running");
        stop(&mut child, Duration::from_secs(60)).expect("the process exits on SIGTERM")
    }

    /// Kills the process at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child);
        }
    }

    /// Starts the process again on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        let program = self.launch.program.display().to_string();
        self.child = Some(self.launch.spawn().unwrap_or_else(|e| panic!("start {program}: {e}")));
        let port = self.port;
        tokio::task::spawn_blocking(move || wait_listening(port, Duration::from_secs(20)))
            .await
            .expect("waiting")
            .unwrap_or_else(|e| panic!("{program} did not start: {e}"));
    }
}

impl Drop for TestProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
