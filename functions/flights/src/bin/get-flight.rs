//! get-flight: one flight with its seats left and price.

fn main() -> std::process::ExitCode {
    shared::serve(flights::queries::get_flight::function())
}
