//! The stats functions over real HTTP against a real Redis, fed with events
//! that the real create-booking and cancel-booking produced.

mod get_stats;
mod record_booking_stats;
