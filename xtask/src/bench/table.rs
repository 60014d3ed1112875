//! The README's tables of the stack's figures, from the results of a run:
//! throughput against pgbench, and CPU per request by process.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::Figure;

/// The loads, as their figures are named, and how the tables call them.
const LOADS: [(&str, &str); 6] = [
    ("create-booking 16 clients, many flights, events on", "create-booking, events on, 16 clients"),
    ("create-booking 16 clients, many flights, events off", "create-booking, events off, 16 clients"),
    ("create-booking 16 clients, one hot flight, events on", "create-booking, events on, one hot flight"),
    ("create-booking 1 clients, many flights, events on", "create-booking, events on, 1 client"),
    ("get-flight, 10,000 flights, 16 clients", "get-flight, 16 clients"),
    ("list-flights, 10,000 flights, 16 clients", "list-flights, 16 clients"),
];

/// Markdown for the README, or nothing when the run had no stack part.
pub fn markdown(figures: &[Figure]) -> Option<String> {
    let find = |name: &str| figures.iter().find(|f| f.figure == name);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| load | throughput | pgbench, same SQL | × pgbench | p50 | p99 |\n|---|---|---|---|---|---|"
    );
    let mut any = false;
    for (load, label) in LOADS {
        let throughput = find(&format!("{load}: throughput"))
            .or_else(|| find(&format!("{load}: throughput against pgbench")));
        let Some(throughput) = throughput else { continue };
        any = true;
        let cell = |suffix: &str| {
            find(&format!("{load}: {suffix}")).map_or(String::new(), |f| format!("{:.1} ms", f.value))
        };
        let _ = writeln!(
            out,
            "| {label} | {:.0} req/s | {:.0} tx/s | {:.2} | {} | {} |",
            throughput.value,
            throughput.baseline.unwrap_or(0.0),
            throughput.ratio.unwrap_or(0.0),
            cell("p50"),
            cell("p99"),
        );
    }
    if !any {
        return None;
    }
    // CPU per request: a column per load, a row per process.
    let prefix = |load: &str| format!("{load}: CPU per request, ");
    let mut processes = BTreeSet::new();
    for (load, _) in LOADS {
        for f in figures {
            if let Some(process) = f.figure.strip_prefix(&prefix(load))
                && !process.starts_with("every process")
            {
                processes.insert(process.to_owned());
            }
        }
    }
    let loads: Vec<_> = LOADS
        .iter()
        .filter(|(load, _)| figures.iter().any(|f| f.figure.starts_with(&prefix(load))))
        .collect();
    let _ = write!(out, "\n| CPU per request, µs |");
    for (_, label) in &loads {
        let _ = write!(out, " {label} |");
    }
    let _ = write!(out, "\n|---|{}\n", "---|".repeat(loads.len()));
    for process in &processes {
        let _ = write!(out, "| {process} |");
        for (load, _) in &loads {
            let value = find(&format!("{}{process}", prefix(load)))
                .map_or(String::from("–"), |f| format!("{:.0}", f.value));
            let _ = write!(out, " {value} |");
        }
        out.push('\n');
    }
    for (row, pick) in [
        ("every process but wrk", 0),
        ("PostgreSQL alone under pgbench, same SQL", 1),
        ("× pgbench's PostgreSQL", 2),
    ] {
        let _ = write!(out, "| **{row}** |");
        for (load, _) in &loads {
            let total =
                figures.iter().find(|f| f.figure.starts_with(&format!("{}every process", prefix(load))));
            let value = total.map_or(String::new(), |f| match pick {
                0 => format!("{:.0}", f.value),
                1 => format!("{:.0}", f.baseline.unwrap_or(0.0)),
                _ => format!("{:.2}", f.ratio.unwrap_or(0.0)),
            });
            let _ = write!(out, " {value} |");
        }
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_hold_each_load_and_each_process() {
        let load = "get-flight, 10,000 flights, 16 clients";
        let figures = vec![
            Figure::against(format!("{load}: throughput against pgbench"), 3000.0, "req/s", 30000.0),
            Figure::plain(format!("{load}: p99"), 4.0, "ms"),
            Figure::plain(format!("{load}: CPU per request, get-flight"), 60.0, "us"),
            Figure::plain(format!("{load}: CPU per request, Redis"), 9.0, "us"),
            Figure::against(
                format!("{load}: CPU per request, every process but wrk, against x"),
                69.0,
                "us",
                50.0,
            ),
        ];
        let tables = markdown(&figures).unwrap();
        assert!(
            tables.contains("| get-flight, 16 clients | 3000 req/s | 30000 tx/s | 0.10 |  | 4.0 ms |"),
            "{tables}"
        );
        assert!(tables.contains("| get-flight | 60 |"), "{tables}");
        assert!(tables.contains("| Redis | 9 |"), "{tables}");
        assert!(tables.contains("| **× pgbench's PostgreSQL** | 1.38 |"), "{tables}");
        assert_eq!(markdown(&[]), None);
    }
}
