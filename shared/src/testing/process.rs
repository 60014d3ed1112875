//! Workspace binaries run as processes of their own: started, killed and
//! started again by a test.

use tokio::net::TcpStream;

use super::db::pool_mode;

/// A binary of this workspace, as `cargo build` left it in the target directory.
pub fn binary(name: &str) -> std::path::PathBuf {
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
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        if HANDED_OUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(port) {
            return port;
        }
    }
}

/// A binary run as a process of its own, on a port of its own: started,
/// killed (SIGKILL, as a crash) and started again by the test.
pub struct TestProcess {
    pub port: u16,
    pub url: String,
    program: std::path::PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: Option<std::path::PathBuf>,
    child: Option<std::process::Child>,
}

impl TestProcess {
    /// Starts `program` with `PORT` set, and waits until it accepts connections.
    pub async fn start(program: std::path::PathBuf, args: &[&str], env: &[(&str, &str)]) -> TestProcess {
        let port = free_port();
        let mut process = TestProcess {
            port,
            url: format!("http://127.0.0.1:{port}"),
            program,
            args: args.iter().map(|a| a.to_string()).collect(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            log: None,
            child: None,
        };
        process.restart().await;
        process
    }

    /// Like [`TestProcess::start`], with everything the process logs
    /// (stdout and stderr) appended to `log`.
    pub async fn start_logged(
        program: std::path::PathBuf,
        env: &[(&str, &str)],
        log: std::path::PathBuf,
    ) -> TestProcess {
        let port = free_port();
        let mut process = TestProcess {
            port,
            url: format!("http://127.0.0.1:{port}"),
            program,
            args: Vec::new(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            log: Some(log),
            child: None,
        };
        process.restart().await;
        process
    }

    /// SIGTERM, as Knative stops a pod, and waits for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("the process is running");
        let pid = child.id().to_string();
        let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        child.wait().expect("wait for the process")
    }

    /// Kills the process at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        let log = std::env::var("TEST_LOG").is_ok();
        let mut command = std::process::Command::new(&self.program);
        command
            .args(&self.args)
            .env("PORT", self.port.to_string())
            .env("RUST_LOG", std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into()))
            .env("LOG_FORMAT", "pretty")
            // Tests that check keys set them; the rest run as the local stack does.
            .env("AUTH_DISABLED", "true")
            .env("DB_POOL_MODE", pool_mode())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(if log { std::process::Stdio::inherit() } else { std::process::Stdio::null() });
        if let Some(path) = &self.log {
            let file = || std::fs::OpenOptions::new().create(true).append(true).open(path).expect("log file");
            command.stdout(file()).stderr(file());
        }
        self.child =
            Some(command.spawn().unwrap_or_else(|e| panic!("start {}: {e}", self.program.display())));
        let started = std::time::Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{} did not start",
                self.program.display()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
