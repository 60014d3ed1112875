//! get-flight and list-flights over 10,000 flights, against the minimal
//! hyper binary's throughput at the same concurrency.

use super::{Bench, Figure, median_of};

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
    for (function, mode) in [("get-flight", "get-flight"), ("list-flights", "list-flights")] {
        let mut runs = Vec::new();
        for _ in 0..bench.runs {
            let process = bench.start(function, &[("DB_POOL_SIZE", "8")])?;
            process.wait_listening()?;
            runs.push(bench.wrk(process.port, mode, CLIENTS, FLIGHTS)?);
        }
        let rps = median_of(&runs, "rps");
        eprintln!("bench: {function}: {rps:.0} req/s (hello-baseline {baseline:.0})");
        figures.push(Figure::against(
            format!("{function}, 10,000 flights, 16 clients: throughput"),
            rps,
            "req/s",
            baseline,
        ));
        figures.push(Figure::plain(
            format!("{function}, 10,000 flights, 16 clients: p99"),
            median_of(&runs, "p99_ms"),
            "ms",
        ));
    }
    Ok(figures)
}
