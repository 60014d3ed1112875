//! get-booking: one booking.

fn main() -> std::process::ExitCode {
    shared::serve(bookings::queries::get_booking::function())
}
