//! reconcile-flights: the flights read model, rebuilt and checked on a schedule.

fn main() -> std::process::ExitCode {
    shared::serve(flights::consumers::reconcile_flights::function())
}
