//! Logs: JSON for the cluster, pretty for a terminal, filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, Settings};

/// Installs the global subscriber once per process; later calls are no-ops,
/// so tests can call it freely.
pub fn init(settings: &Settings) {
    let filter = EnvFilter::try_new(&settings.rust_log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// The Knative Service and Revision this process serves (`K_SERVICE`,
/// `K_REVISION`, set by Knative), empty elsewhere: in every request's log lines.
pub fn knative() -> (&'static str, &'static str) {
    static NAMES: std::sync::LazyLock<(String, String)> = std::sync::LazyLock::new(|| {
        (std::env::var("K_SERVICE").unwrap_or_default(), std::env::var("K_REVISION").unwrap_or_default())
    });
    (&NAMES.0, &NAMES.1)
}

/// The trace id of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`), or "".
pub fn trace_id(traceparent: &str) -> &str {
    match traceparent.split('-').collect::<Vec<_>>()[..] {
        [_, id, _, _] if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) => id,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_trace_id_of_a_traceparent() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(super::trace_id(traceparent), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(super::trace_id("garbage"), "");
        assert_eq!(super::trace_id(""), "");
    }
}
