//! The stats functions over real HTTP against a real Redis and PostgreSQL,
//! fed with events that the real commands produced.

mod event_signatures;
mod get_stats;
mod helpers;
mod reconcile_stats;
mod record_booking_stats;
mod sender_identity;
