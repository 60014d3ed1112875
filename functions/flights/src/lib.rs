//! The flights slice: flights to destinations, their seats and the price a passenger pays.

pub mod commands;
pub mod model;
pub mod queries;

/// The ce-source of every reply and event of this slice.
pub const SOURCE: &str = "/skybook/flights";
