//! Prometheus metrics, one registry per process, in Prometheus naming
//! (`_total`, `_seconds`, `code`): requests by function and code, their
//! latency, whether each dependency answered, and what each layer and
//! handler reports of its own. A family is a `static` declared where it is
//! used ([`counters`], [`gauges`], [`histograms`]); the runtime registers
//! the ones a function uses when it starts (by its shape, and what it names
//! with `Function::with_metrics`), so every family shows from the first
//! scrape, its series as they are made.

use std::ops::Deref;
use std::sync::{LazyLock, Mutex, OnceLock};
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

/// Every family registered, as the exposition describes it: for those with
/// no series yet, which the encoder leaves out.
static DESCRIPTORS: Mutex<Vec<(&'static str, &'static str, &'static str)>> = Mutex::new(Vec::new());

pub type CounterFamily = Family<Labels, Counter>;
pub type GaugeFamily = Family<Labels, Gauge>;
pub type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// A family of metrics, declared as a `static` where it is used.
pub struct Declared<M> {
    name: &'static str,
    help: &'static str,
    /// Its OpenMetrics type: counter, gauge, histogram.
    kind: &'static str,
    make: fn() -> M,
    family: OnceLock<M>,
}

pub type Counters = Declared<CounterFamily>;
pub type Gauges = Declared<GaugeFamily>;
pub type Histograms = Declared<HistogramFamily>;

/// A counter family, `skybook_<name>_total`.
pub const fn counters(name: &'static str, help: &'static str) -> Counters {
    Declared { name, help, kind: "counter", make: CounterFamily::default, family: OnceLock::new() }
}

/// A gauge family, `skybook_<name>`.
pub const fn gauges(name: &'static str, help: &'static str) -> Gauges {
    Declared { name, help, kind: "gauge", make: GaugeFamily::default, family: OnceLock::new() }
}

/// A histogram family of durations, `skybook_<name>` (seconds, 0.5 ms to about 8 s).
pub const fn histograms(name: &'static str, help: &'static str) -> Histograms {
    Declared {
        name,
        help,
        kind: "histogram",
        make: || HistogramFamily::new_with_constructor(seconds),
        family: OnceLock::new(),
    }
}

fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl<M: prometheus_client::registry::Metric + Clone> Declared<M> {
    /// The family, registered the first time it is reached.
    pub fn family(&self) -> &M {
        self.family.get_or_init(|| {
            let family = (self.make)();
            REGISTRY.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).register(
                self.name,
                self.help,
                family.clone(),
            );
            DESCRIPTORS
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push((self.name, self.help, self.kind));
            family
        })
    }
}

impl<M: prometheus_client::registry::Metric + Clone> Deref for Declared<M> {
    type Target = M;

    fn deref(&self) -> &M {
        self.family()
    }
}

/// A declared family, whatever its type: what the runtime registers.
pub trait Registered: Sync {
    fn register(&self);
}

impl<M: prometheus_client::registry::Metric + Clone + Send + Sync> Registered for Declared<M> {
    fn register(&self) {
        let _ = self.family();
    }
}

pub(crate) static REQUESTS: Counters = counters("requests", "Invocations by function and HTTP status code");
pub(crate) static LATENCY: Histograms =
    histograms("request_duration_seconds", "Invocation latency by function");
pub(crate) static DEPENDENCIES: Gauges = gauges(
    "dependency_up",
    "Whether a dependency answered when /health/dependencies last checked it (1) or not (0)",
);

/// A function's own request metrics: the series it writes on every
/// request, found once rather than looked up by labels each time.
pub struct Metrics {
    function: &'static str,
    latency: Histogram,
    /// The counter of each status code, made at its first answer.
    requests: Box<[OnceLock<Counter>]>,
}

/// The server's own families, which every function registers.
pub const SERVER: &[&dyn Registered] = &[&REQUESTS, &LATENCY, &DEPENDENCIES];

impl Metrics {
    pub fn new(function: &'static str) -> Self {
        // A family's metrics share their state with their clones.
        let latency = LATENCY.get_or_create(&labels(&[("function", function)])).clone();
        Metrics { function, latency, requests: (0..600).map(|_| OnceLock::new()).collect() }
    }

    pub fn observe(&self, code: u16, elapsed: Duration) {
        let counter = || {
            REQUESTS
                .get_or_create(&labels(&[("function", self.function), ("code", &code.to_string())]))
                .clone()
        };
        match self.requests.get(usize::from(code)) {
            Some(held) => held.get_or_init(counter).inc(),
            None => counter().inc(),
        };
        self.latency.observe(elapsed.as_secs_f64());
    }

    pub fn dependency(&self, dependency: &'static str, up: bool) {
        DEPENDENCIES.get_or_create(&labels(&[("dependency", dependency)])).set(i64::from(up));
    }
}

/// The OpenMetrics text exposition of every metric of the process: each
/// registered family, those without a series yet by their descriptor alone.
pub fn render() -> String {
    let mut out = String::new();
    let registry = REGISTRY.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    drop(registry);
    let mut empty = String::new();
    for (name, help, kind) in DESCRIPTORS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter() {
        let family = format!("skybook_{name}");
        if !out.contains(&format!("# TYPE {family} {kind}\n")) {
            empty.push_str(&format!("# HELP {family} {help}.\n# TYPE {family} {kind}\n"));
        }
    }
    match out.strip_suffix("# EOF\n") {
        Some(head) => format!("{head}{empty}# EOF\n"),
        None => out + &empty,
    }
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

#[cfg(test)]
mod declared {
    use super::*;

    static USED: Counters = counters("declared_used", "A family with a series");
    static UNUSED: Histograms = histograms("declared_unused", "A family without one");

    #[test]
    fn a_registered_family_shows_before_its_first_series_as_its_encoder_would_describe_it() {
        USED.register();
        UNUSED.register();
        let before = render();
        assert!(
            before.contains(
                "# HELP skybook_declared_used A family with a series.\n# TYPE skybook_declared_used counter\n"
            ),
            "{before}"
        );
        assert!(before.contains("# TYPE skybook_declared_unused histogram\n"), "{before}");
        assert!(before.ends_with("# EOF\n"), "{before}");
        USED.get_or_create(&labels(&[("function", "f")])).inc();
        let after = render();
        assert_eq!(after.matches("# TYPE skybook_declared_used counter").count(), 1, "{after}");
        assert!(after.contains("skybook_declared_used_total{function=\"f\"} 1"), "{after}");
    }
}
