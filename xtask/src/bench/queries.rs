//! get-flight and list-flights on the stack the README starts, over 10,000
//! flights at 16 clients, against the same SELECT in pgbench (prepared,
//! straight to PostgreSQL): the database alone, the bar a read must reach.
//! CPU per request by process for each.

use serde_json::Value;

use super::booking::pgbench_script;
use super::stack::{BenchStack, cpu_figures, pgbench_cost};
use super::{Bench, Figure, median, median_of};

const FLIGHTS: u32 = 10_000;
const CLIENTS: u32 = 16;

pub fn run(bench: &Bench, stack: &BenchStack) -> anyhow::Result<Vec<Figure>> {
    bench.seed(FLIGHTS)?;
    let mut figures = Vec::new();
    for (function, mode, script) in [
        ("get-flight", "get-flight", "bench/get_flight.pgbench.sql"),
        ("list-flights", "list-flights", "bench/list_flights.pgbench.sql"),
    ] {
        let port = stack.port(function)?;
        let (mut loads, mut pgbench) = (Vec::new(), Vec::new());
        for _ in 0..bench.runs {
            loads.push(stack.measure(&[], || {
                let summary = bench.wrk_as(port, mode, CLIENTS, FLIGHTS, None)?;
                let answered = summary["requests"].as_f64().unwrap_or(0.0);
                Ok((summary, answered))
            })?);
            pgbench.push(pgbench_cost(bench, || pgbench_script(bench, script, CLIENTS, FLIGHTS))?);
        }
        let runs: Vec<Value> = loads.iter().map(|l| l.summary.clone()).collect();
        let (rps, tps) = (median_of(&runs, "rps"), median(pgbench.iter().map(|(tps, _)| *tps).collect()));
        let pg_us = median(pgbench.iter().map(|(_, cpu)| cpu * 1e6).collect());
        eprintln!("bench: {function}: {rps:.0} req/s (pgbench, same SELECT: {tps:.0} tx/s)");
        let name = format!("{function}, 10,000 flights, 16 clients");
        figures.push(Figure::against(format!("{name}: throughput against pgbench"), rps, "req/s", tps));
        figures.push(Figure::plain(format!("{name}: p99"), median_of(&runs, "p99_ms"), "ms"));
        figures.push(Figure::plain(format!("{name}: PostgreSQL's CPU per pgbench SELECT"), pg_us, "us"));
        figures.extend(cpu_figures(&name, &loads, pg_us));
    }
    Ok(figures)
}
