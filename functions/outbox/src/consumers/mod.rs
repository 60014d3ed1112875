//! Consumers: functions ticked by events, answering 202.

pub mod relay_outbox;
