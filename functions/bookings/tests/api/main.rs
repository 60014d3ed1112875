//! The bookings functions over real HTTP against a real PostgreSQL, with a
//! real HTTP sink standing in for the broker.

mod cancel_booking;
mod create_booking;
mod helpers;
mod outbox;
mod queries;
mod tls_sink;
