//! project-flights: the flights read model, kept by the events.

fn main() -> std::process::ExitCode {
    shared::serve(flights::consumers::project_flights::function())
}
