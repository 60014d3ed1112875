//! The outbox slice: the relay that publishes events left unsent.

pub mod consumers;

/// The ce-source of this slice.
pub const SOURCE: &str = "/skybook/outbox";
