//! update-destination: changes a destination.

fn main() -> std::process::ExitCode {
    shared::serve(destinations::commands::update_destination::function())
}
