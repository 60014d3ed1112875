//! Prometheus metrics, one registry per process, in Prometheus naming
//! (`_total`, `_seconds`, `code`): requests by function and code, their
//! latency, whether each dependency answered, and what each layer and
//! handler reports of its own through [`counter_family`], [`gauge_family`]
//! and [`histogram_family`], each kept in a `LazyLock` so it registers once.

use std::sync::{LazyLock, Mutex};
use std::time::Duration;

pub use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::histogram::exponential_buckets;
pub use prometheus_client::metrics::{counter::Counter, family::Family, gauge::Gauge};
use prometheus_client::registry::Registry;

/// Labels as name and value pairs.
pub type Labels = Vec<(String, String)>;

/// Labels from pairs of strings.
pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(|| Mutex::new(Registry::with_prefix("skybook")));

fn register(name: &'static str, help: &'static str, metric: impl prometheus_client::registry::Metric) {
    REGISTRY.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).register(name, help, metric);
}

pub type CounterFamily = Family<Labels, Counter>;
pub type GaugeFamily = Family<Labels, Gauge>;

/// A counter family, `skybook_<name>_total`.
pub fn counter_family(name: &'static str, help: &'static str) -> CounterFamily {
    let family = Family::<Labels, Counter>::default();
    register(name, help, family.clone());
    family
}

/// A gauge family, `skybook_<name>`.
pub fn gauge_family(name: &'static str, help: &'static str) -> GaugeFamily {
    let family = Family::<Labels, Gauge>::default();
    register(name, help, family.clone());
    family
}

pub type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// A histogram family of durations, `skybook_<name>` (seconds, 0.5 ms to about 8 s).
pub fn histogram_family(name: &'static str, help: &'static str) -> HistogramFamily {
    let family = HistogramFamily::new_with_constructor(seconds);
    register(name, help, family.clone());
    family
}

fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

static REQUESTS: LazyLock<Family<Labels, Counter>> =
    LazyLock::new(|| counter_family("requests", "Invocations by function and HTTP status code"));
static LATENCY: LazyLock<HistogramFamily> =
    LazyLock::new(|| histogram_family("request_duration_seconds", "Invocation latency by function"));
static DEPENDENCIES: LazyLock<Family<Labels, Gauge>> = LazyLock::new(|| {
    gauge_family(
        "dependency_up",
        "Whether a dependency answered when /health/dependencies last checked it (1) or not (0)",
    )
});

/// A function's own request metrics.
pub struct Metrics {
    function: &'static str,
}

impl Metrics {
    /// The request metrics of `function`, registered, so a scrape shows
    /// them before they first move.
    pub fn new(function: &'static str) -> Self {
        LazyLock::force(&REQUESTS);
        LazyLock::force(&LATENCY);
        LazyLock::force(&DEPENDENCIES);
        Metrics { function }
    }

    pub fn observe(&self, code: u16, elapsed: Duration) {
        REQUESTS.get_or_create(&labels(&[("function", self.function), ("code", &code.to_string())])).inc();
        LATENCY.get_or_create(&labels(&[("function", self.function)])).observe(elapsed.as_secs_f64());
    }

    pub fn dependency(&self, dependency: &'static str, up: bool) {
        DEPENDENCIES.get_or_create(&labels(&[("dependency", dependency)])).set(i64::from(up));
    }
}

/// The OpenMetrics text exposition of every metric of the process.
pub fn render() -> String {
    let mut out = String::new();
    let registry = REGISTRY.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric, in the format the scraper asks for: OpenMetrics when its
/// `Accept` names it (Prometheus does), else the Prometheus text format
/// (what older tools and `promtool check metrics` read). Returns the body
/// and its content type.
pub fn render_for(accept: Option<&str>) -> (String, &'static str) {
    let openmetrics = render();
    if accept.is_some_and(|a| a.contains("application/openmetrics-text")) {
        (openmetrics, OPENMETRICS)
    } else {
        (to_prometheus_text(&openmetrics), PROMETHEUS_TEXT)
    }
}

/// OpenMetrics names a counter family without its `_total`, which the
/// Prometheus text format keeps on every line; it has no `# EOF`.
fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(name).then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_prometheus_text_format_names_counters_with_total_and_has_no_eof() {
        let openmetrics = "# HELP skybook_requests Invocations.\n# TYPE skybook_requests counter\n\
                           skybook_requests_total{code=\"200\"} 1\n# EOF\n";
        assert_eq!(
            super::to_prometheus_text(openmetrics),
            "# HELP skybook_requests_total Invocations.\n# TYPE skybook_requests_total counter\n\
             skybook_requests_total{code=\"200\"} 1\n"
        );
    }
}
