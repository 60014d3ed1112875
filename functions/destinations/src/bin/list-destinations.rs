//! list-destinations: lists destinations.

fn main() -> std::process::ExitCode {
    shared::serve(destinations::queries::list_destinations::function())
}
