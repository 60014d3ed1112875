//! create-booking: books a seat on a flight.

fn main() -> std::process::ExitCode {
    shared::serve(bookings::commands::create_booking::function())
}
