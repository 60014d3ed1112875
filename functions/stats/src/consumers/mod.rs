//! Consumers: functions the broker (or a PingSource) delivers events to.

pub mod reconcile_stats;
pub mod record_booking_stats;
pub mod record_destination_name;
