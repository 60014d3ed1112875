//! cancel-booking: cancels a booking and frees its seat.

fn main() -> std::process::ExitCode {
    shared::serve(bookings::commands::cancel_booking::function())
}
