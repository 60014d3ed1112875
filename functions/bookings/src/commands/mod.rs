//! Commands: the functions that write bookings.

pub mod cancel_booking;
pub mod create_booking;
