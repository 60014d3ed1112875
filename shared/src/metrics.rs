//! Prometheus metrics: requests by function and status, their latency,
//! whether each dependency answered when last checked, and what a handler
//! reports of its own ([`gauge_family`], [`counter_family`]).

use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
pub use prometheus_client::metrics::{counter::Counter, family::Family, gauge::Gauge};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    function: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FunctionLabel {
    function: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DependencyLabel {
    dependency: &'static str,
}

pub struct Metrics {
    function: &'static str,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<FunctionLabel, Histogram, fn() -> Histogram>,
    dependencies: Family<DependencyLabel, Gauge>,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl Metrics {
    pub fn new(function: &'static str) -> Self {
        let mut registry = Registry::with_prefix("skybook");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency =
            Family::<FunctionLabel, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register("requests", "Invocations by function and HTTP status", requests.clone());
        registry.register("request_duration_seconds", "Invocation latency by function", latency.clone());
        let dependencies = Family::<DependencyLabel, Gauge>::default();
        registry.register(
            "dependency_up",
            "Whether a dependency answered when /health/dependencies last checked it (1) or not (0)",
            dependencies.clone(),
        );
        Metrics { function, registry, requests, latency, dependencies }
    }

    pub fn observe(&self, status: u16, elapsed: Duration) {
        self.requests.get_or_create(&RequestLabels { function: self.function, status }).inc();
        self.latency.get_or_create(&FunctionLabel { function: self.function }).observe(elapsed.as_secs_f64());
    }

    pub fn dependency(&self, dependency: &'static str, up: bool) {
        self.dependencies.get_or_create(&DependencyLabel { dependency }).set(i64::from(up));
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        let reported = HANDLERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut theirs = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut theirs, &reported);
        if theirs.trim() != "# EOF" {
            // One exposition, so one `# EOF`: the handlers' metrics go before it.
            out.truncate(out.trim_end().trim_end_matches("# EOF").len());
            out.push_str(&theirs);
        }
        out
    }
}

/// Labels a handler chooses: name and value pairs.
pub type Labels = Vec<(String, String)>;

/// The metrics handlers register, exposed with the function's own.
static HANDLERS: LazyLock<Mutex<Registry>> = LazyLock::new(|| Mutex::new(Registry::with_prefix("skybook")));

/// A gauge family a handler reports (`skybook_<name>`), registered once per
/// process: keep it in a `LazyLock`.
pub fn gauge_family(name: &'static str, help: &'static str) -> Family<Labels, Gauge> {
    let family = Family::<Labels, Gauge>::default();
    HANDLERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).register(name, help, family.clone());
    family
}

/// A counter family a handler reports (`skybook_<name>_total`), registered
/// once per process: keep it in a `LazyLock`.
pub fn counter_family(name: &'static str, help: &'static str) -> Family<Labels, Counter> {
    let family = Family::<Labels, Counter>::default();
    HANDLERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).register(name, help, family.clone());
    family
}
