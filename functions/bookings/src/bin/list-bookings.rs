//! list-bookings: bookings of a flight or a passenger.

fn main() -> std::process::ExitCode {
    shared::serve(bookings::queries::list_bookings::function())
}
