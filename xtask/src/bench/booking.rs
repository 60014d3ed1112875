//! create-booking under load (wrk) against the same SQL transaction in pgbench,
//! at 1, 16 and 64 clients, over many flights and on one hot flight.

use std::process::Command;

use anyhow::Context;

use super::{Bench, Figure, median, median_of};

const CLIENTS: [u32; 3] = [1, 16, 64];
/// Many flights (contention spread out), and one (every client on one row).
const FLIGHTS: [(u32, &str); 2] = [(200, "many flights"), (1, "one hot flight")];

pub fn run(bench: &Bench) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for (flights, label) in FLIGHTS {
        for clients in CLIENTS {
            let mut function = Vec::new();
            let mut baseline = Vec::new();
            for _ in 0..bench.runs {
                bench.seed(flights)?;
                let process = bench.start("create-booking", &[("DB_POOL_SIZE", "8")])?;
                process.wait_listening()?;
                function.push(bench.wrk(process.port, "booking", clients, flights)?);
                drop(process);
                bench.seed(flights)?;
                baseline.push(pgbench(bench, clients, flights)?);
            }
            let rps = median_of(&function, "rps");
            let tps = median(baseline);
            eprintln!(
                "bench: create-booking {clients} clients, {label}: {rps:.0} req/s, pgbench {tps:.0} tx/s"
            );
            let name = format!("create-booking {clients} clients, {label}");
            figures.push(Figure::against(format!("{name}: throughput"), rps, "req/s", tps));
            figures.push(Figure::plain(format!("{name}: p50"), median_of(&function, "p50_ms"), "ms"));
            figures.push(Figure::plain(format!("{name}: p99"), median_of(&function, "p99_ms"), "ms"));
            let errors: f64 = function.iter().map(|w| w["errors"].as_f64().unwrap_or(0.0)).sum();
            if errors > 0.0 {
                figures.push(Figure::plain(format!("{name}: errors"), errors, "count"));
            }
        }
    }
    Ok(figures)
}

fn pgbench(bench: &Bench, clients: u32, flights: u32) -> anyhow::Result<f64> {
    let output = Command::new("pgbench")
        .args([
            "-n",
            // Prepared statements, as the function's driver uses them: the same work on the wire.
            "-M",
            "prepared",
            &format!("-j{}", clients.min(2)),
            &format!("-c{clients}"),
            &format!("-T{}", bench.seconds),
        ])
        .args(["-D", &format!("flights={flights}"), "-f"])
        .arg(bench.root.join("bench/create_booking.pgbench.sql"))
        .arg(&bench.database_url)
        .output()
        .context("pgbench")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l["tps = ".len()..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("pgbench printed no tps: {text}{}", String::from_utf8_lossy(&output.stderr)))
}
