//! The few statistics the figures are: medians and percentiles.

use serde_json::Value;

pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// The median of a wrk field over several summaries.
pub fn median_of(runs: &[Value], field: &str) -> f64 {
    median(runs.iter().map(|r| r[field].as_f64().unwrap_or(0.0)).collect())
}
