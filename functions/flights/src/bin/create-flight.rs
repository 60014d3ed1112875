//! create-flight: schedules a flight to a destination.

fn main() -> std::process::ExitCode {
    shared::serve(flights::commands::create_flight::function())
}
