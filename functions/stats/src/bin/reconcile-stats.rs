//! reconcile-stats: compares the stats with PostgreSQL and rebuilds them on drift.

fn main() -> std::process::ExitCode {
    shared::serve(stats::consumers::reconcile_stats::function())
}
