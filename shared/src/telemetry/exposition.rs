//! An OpenMetrics exposition, the text `/metrics` serves, read back into
//! OTLP's metric model for the push.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, Sum, metric,
    number_data_point,
};

/// The metrics of an OpenMetrics exposition, as OTLP has them: counters as
/// cumulative monotonic sums, gauges, histograms with explicit buckets.
pub(super) fn read_exposition(text: &str, start: u64, now: u64) -> Vec<Metric> {
    let mut metrics: Vec<Metric> = Vec::new();
    let mut family = Family::default();
    // A family's HELP comes before its TYPE.
    let mut help: Option<(&str, &str)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            metrics.extend(family.finish(start, now));
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let help = help.take().filter(|(of, _)| *of == name).map_or("", |(_, help)| help);
            family = Family {
                name: name.to_owned(),
                kind: kind.to_owned(),
                help: help.to_owned(),
                ..Family::default()
            };
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            help = rest.split_once(' ');
        } else if !line.starts_with('#')
            && let Some((name, labels, value)) = sample(line)
        {
            family.add(name, labels, value);
        }
    }
    metrics.extend(family.finish(start, now));
    metrics
}

/// A sample's labels, as written.
type Labels = Vec<(String, String)>;

/// One histogram as read so far: cumulative counts by bound, the sum, the count.
#[derive(Default)]
struct Buckets {
    cumulative: Vec<(f64, u64)>,
    sum: f64,
    count: u64,
}

/// One family as read so far.
#[derive(Default)]
struct Family {
    name: String,
    kind: String,
    help: String,
    numbers: Vec<(Labels, f64)>,
    histograms: BTreeMap<Labels, Buckets>,
}

impl Family {
    fn add(&mut self, sample: &str, mut labels: Labels, value: f64) {
        let suffix = sample.strip_prefix(self.name.as_str()).unwrap_or_default();
        match (self.kind.as_str(), suffix) {
            ("counter", "_total") | ("gauge", "") => self.numbers.push((labels, value)),
            ("histogram", "_bucket") => {
                let at = labels.iter().position(|(name, _)| name == "le");
                let bound = at.map(|at| labels.remove(at).1).and_then(|le| parse_number(&le));
                if let Some(bound) = bound {
                    self.histograms.entry(labels).or_default().cumulative.push((bound, value as u64));
                }
            }
            ("histogram", "_sum") => self.histograms.entry(labels).or_default().sum = value,
            ("histogram", "_count") => self.histograms.entry(labels).or_default().count = value as u64,
            _ => {}
        }
    }

    fn finish(&mut self, start: u64, now: u64) -> Option<Metric> {
        let point = |labels: &[(String, String)], value: f64| NumberDataPoint {
            attributes: labels.iter().map(|(k, v)| attribute(k, v)).collect(),
            start_time_unix_nano: start,
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsDouble(value)),
            ..Default::default()
        };
        let numbers = std::mem::take(&mut self.numbers);
        let data = match self.kind.as_str() {
            "counter" => metric::Data::Sum(Sum {
                data_points: numbers.iter().map(|(labels, value)| point(labels, *value)).collect(),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
            "gauge" => metric::Data::Gauge(Gauge {
                data_points: numbers.iter().map(|(labels, value)| point(labels, *value)).collect(),
            }),
            "histogram" => metric::Data::Histogram(Histogram {
                data_points: std::mem::take(&mut self.histograms)
                    .into_iter()
                    .map(|(labels, Buckets { cumulative: mut buckets, sum, count })| {
                        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                        // Cumulative counts per bound become counts per bucket;
                        // the +Inf bound is the last bucket's, not a bound.
                        let mut previous = 0;
                        let bucket_counts = buckets
                            .iter()
                            .map(|(_, cumulative)| cumulative - std::mem::replace(&mut previous, *cumulative))
                            .collect();
                        HistogramDataPoint {
                            attributes: labels.iter().map(|(k, v)| attribute(k, v)).collect(),
                            start_time_unix_nano: start,
                            time_unix_nano: now,
                            count,
                            sum: Some(sum),
                            bucket_counts,
                            explicit_bounds: buckets
                                .iter()
                                .map(|(b, _)| *b)
                                .filter(|b| b.is_finite())
                                .collect(),
                            ..Default::default()
                        }
                    })
                    .collect(),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
            _ => return None,
        };
        let unit = if self.name.ends_with("_seconds") { "s" } else { "" };
        Some(Metric {
            name: std::mem::take(&mut self.name),
            description: std::mem::take(&mut self.help),
            unit: unit.into(),
            data: Some(data),
            ..Default::default()
        })
    }
}

/// A sample line: `name{a="x",b="y"} value`.
fn sample(line: &str) -> Option<(&str, Labels, f64)> {
    let name_end = line.find(['{', ' '])?;
    let (name, mut rest) = line.split_at(name_end);
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        let mut key = String::new();
        let end = loop {
            let (at, c) = chars.next()?;
            match c {
                '}' => break at,
                ',' => {}
                '=' => {
                    let (_, '"') = chars.next()? else { return None };
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '"' => break,
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            other => value.push(other),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                other => key.push(other),
            }
        };
        rest = &inner[end + 1..];
    }
    let value = parse_number(rest.split_whitespace().next()?)?;
    Some((name, labels, value))
}

fn parse_number(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

pub(super) fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = r#"# HELP skybook_requests Invocations by function and HTTP status code.
# TYPE skybook_requests counter
skybook_requests_total{function="create-booking",code="201"} 3
skybook_requests_created{function="create-booking",code="201"} 1700000000.0
# HELP skybook_outbox_backlog Outbox rows.
# TYPE skybook_outbox_backlog gauge
skybook_outbox_backlog{state="pending, \"quoted\""} 7
# TYPE skybook_request_duration_seconds histogram
skybook_request_duration_seconds_sum{function="f"} 0.75
skybook_request_duration_seconds_count{function="f"} 3
skybook_request_duration_seconds_bucket{le="0.1",function="f"} 1
skybook_request_duration_seconds_bucket{le="0.5",function="f"} 2
skybook_request_duration_seconds_bucket{le="+Inf",function="f"} 3
# EOF
"#;

    fn value(point: &NumberDataPoint) -> f64 {
        match point.value {
            Some(number_data_point::Value::AsDouble(v)) => v,
            _ => f64::NAN,
        }
    }

    #[test]
    fn an_exposition_reads_back_as_otlp_metrics() {
        let metrics = read_exposition(EXPOSITION, 1, 2);
        let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["skybook_requests", "skybook_outbox_backlog", "skybook_request_duration_seconds"]);

        let Some(metric::Data::Sum(sum)) = &metrics[0].data else { panic!("a counter is a sum") };
        assert!(sum.is_monotonic);
        assert_eq!(sum.data_points.len(), 1, "the _created sample is not a point");
        assert_eq!(value(&sum.data_points[0]), 3.0);
        assert_eq!(sum.data_points[0].attributes.len(), 2);
        assert_eq!(metrics[0].description, "Invocations by function and HTTP status code.");

        let Some(metric::Data::Gauge(gauge)) = &metrics[1].data else { panic!("a gauge") };
        let label = &gauge.data_points[0].attributes[0];
        let Some(any_value::Value::StringValue(text)) = label.value.as_ref().and_then(|v| v.value.clone())
        else {
            panic!("a string label")
        };
        assert_eq!(text, "pending, \"quoted\"");

        let Some(metric::Data::Histogram(histogram)) = &metrics[2].data else { panic!("a histogram") };
        let point = &histogram.data_points[0];
        assert_eq!(point.explicit_bounds, [0.1, 0.5]);
        assert_eq!(point.bucket_counts, [1, 1, 1], "cumulative counts become counts per bucket");
        assert_eq!((point.count, point.sum), (3, Some(0.75)));
        assert_eq!(metrics[2].unit, "s");
    }

    #[test]
    fn a_line_that_is_not_a_sample_is_skipped() {
        assert!(sample("skybook_x{a=\"unterminated} 1").is_none());
        assert!(sample("skybook_x{a=\"b\"}").is_none());
        assert_eq!(sample("skybook_x 2").map(|(n, l, v)| (n, l.len(), v)), Some(("skybook_x", 0, 2.0)));
    }
}
