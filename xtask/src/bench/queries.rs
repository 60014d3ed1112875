//! get-flight and list-flights over 10,000 flights at 16 clients, against two
//! baselines measured in the same run: the same SELECT in pgbench (prepared),
//! the real limit on this machine, and the minimal hyper binary's throughput.

use super::booking::pgbench_script;
use super::{Bench, Figure, median, median_of};

const FLIGHTS: u32 = 10_000;
const CLIENTS: u32 = 16;

pub fn run(bench: &Bench) -> anyhow::Result<Vec<Figure>> {
    bench.seed(FLIGHTS)?;
    let mut hello = Vec::new();
    for _ in 0..bench.runs {
        let process = bench.start("hello-baseline", &[])?;
        process.wait_listening()?;
        hello.push(bench.wrk(process.port, "hello", CLIENTS, FLIGHTS)?);
    }
    let baseline = median_of(&hello, "rps");
    let mut figures =
        vec![Figure::plain("hello-baseline p99, 16 clients", median_of(&hello, "p99_ms"), "ms")];
    for (function, mode, script) in [
        ("get-flight", "get-flight", "bench/get_flight.pgbench.sql"),
        ("list-flights", "list-flights", "bench/list_flights.pgbench.sql"),
    ] {
        let (mut runs, mut pgbench) = (Vec::new(), Vec::new());
        for _ in 0..bench.runs {
            let process = bench.start(function, &[("DB_POOL_SIZE", "8")])?;
            process.wait_listening()?;
            runs.push(bench.wrk(process.port, mode, CLIENTS, FLIGHTS)?);
            drop(process);
            pgbench.push(pgbench_script(bench, script, CLIENTS, FLIGHTS)?);
        }
        let (rps, tps) = (median_of(&runs, "rps"), median(pgbench));
        eprintln!("bench: {function}: {rps:.0} req/s (pgbench {tps:.0} tx/s, hello-baseline {baseline:.0})");
        let name = format!("{function}, 10,000 flights, 16 clients");
        figures.push(Figure::against(format!("{name}: throughput against pgbench"), rps, "req/s", tps));
        figures.push(Figure::against(format!("{name}: throughput"), rps, "req/s", baseline));
        figures.push(Figure::plain(format!("{name}: p99"), median_of(&runs, "p99_ms"), "ms"));
    }
    Ok(figures)
}
