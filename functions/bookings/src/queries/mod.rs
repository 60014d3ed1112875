//! Queries: the functions that read bookings.

pub mod get_booking;
pub mod list_bookings;
