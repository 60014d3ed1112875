//! create-destination: registers a destination with its tax and rules.

fn main() -> std::process::ExitCode {
    shared::serve(destinations::commands::create_destination::function())
}
