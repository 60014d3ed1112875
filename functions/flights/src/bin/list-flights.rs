//! list-flights: lists upcoming flights, filtered and paged.

fn main() -> std::process::ExitCode {
    shared::serve(flights::queries::list_flights::function())
}
