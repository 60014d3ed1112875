//! The destinations slice: where flights go, their tax, promotion and pet rules.

pub mod commands;
pub mod model;
pub mod queries;

/// The ce-source of every reply and event of this slice.
pub const SOURCE: &str = "/skybook/destinations";
