//! Consumers: functions the broker delivers events to.

pub mod record_booking_stats;
