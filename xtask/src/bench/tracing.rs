//! What tracing costs create-booking, 16 clients over many flights, its
//! events sent to a sink that answers at once (the broker's work is not the
//! function's cost): untraced (no OTLP endpoint, as the chart deploys by
//! default) against traced (every request sampled, every span exported to
//! a collector that answers at once). Untraced is measured twice, before and
//! after, so the table shows the noise a difference has to exceed.

use super::{Bench, Figure, booking, median_of};

const CLIENTS: u32 = 16;
const FLIGHTS: u32 = 200;

pub fn run(bench: &Bench) -> anyhow::Result<Vec<Figure>> {
    let (mut before, mut traced, mut after) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..bench.runs {
        before.push(measure(bench, false)?);
        traced.push(measure(bench, true)?);
        after.push(measure(bench, false)?);
    }
    let (rps_before, rps_traced, rps_after) =
        (median_of(&before, "rps"), median_of(&traced, "rps"), median_of(&after, "rps"));
    eprintln!(
        "bench: create-booking {CLIENTS} clients: untraced {rps_before:.0} and {rps_after:.0} req/s, traced {rps_traced:.0} req/s"
    );
    let name = format!("create-booking {CLIENTS} clients");
    Ok(vec![
        Figure::against(
            format!("{name}, untraced: second run against first"),
            rps_after,
            "req/s",
            rps_before,
        ),
        Figure::against(
            format!("{name}, traced (all sampled): throughput against untraced"),
            rps_traced,
            "req/s",
            (rps_before + rps_after) / 2.0,
        ),
        Figure::against(
            format!("{name}, traced (all sampled): p99 against untraced"),
            median_of(&traced, "p99_ms"),
            "ms",
            (median_of(&before, "p99_ms") + median_of(&after, "p99_ms")) / 2.0,
        ),
    ])
}

fn measure(bench: &Bench, traced: bool) -> anyhow::Result<serde_json::Value> {
    bench.seed(FLIGHTS)?;
    // The hello server answers anything at once: the event sink, and the collector.
    let sink = bench.start("hello-baseline", &[])?;
    let url = format!("http://127.0.0.1:{}/", sink.port);
    let mut env = vec![("DB_POOL_SIZE", "8"), ("K_SINK", url.as_str())];
    if traced {
        env.extend([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", url.trim_end_matches('/')),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ]);
    }
    let process = bench.start("create-booking", &env)?;
    for p in [&sink, &process] {
        p.wait_listening()?;
    }
    let summary = bench.wrk(process.port, "booking", CLIENTS, FLIGHTS)?;
    booking::check_bookings(bench, &summary, CLIENTS)?;
    Ok(summary)
}
