//! A process's life, the same for every function and the local broker:
//! a runtime, telemetry set up once, the work until SIGTERM, the last spans
//! and metrics sent, and an exit code with one line saying why.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::LogFormat;

/// How a process logs, and how long its telemetry may take to leave at the end.
pub struct Telemetry<'a> {
    pub filter: &'a str,
    pub format: LogFormat,
    pub grace: Duration,
}

/// Runs `work` on a multi-threaded runtime with telemetry set up, and
/// returns the process's exit code: success, or failure with `name: why`.
pub fn run<F>(name: &str, telemetry: Telemetry<'_>, work: impl FnOnce() -> F) -> ExitCode
where
    F: Future<Output = Result<(), String>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Inside the runtime: the trace exporter sends on its threads.
    runtime.block_on(async { crate::telemetry::init(name, telemetry.filter, telemetry.format) });
    let result = runtime.block_on(work());
    // The spans of the last requests leave before the process does.
    crate::telemetry::shutdown(telemetry.grace);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("{name}: {line}");
            ExitCode::FAILURE
        }
    }
}
