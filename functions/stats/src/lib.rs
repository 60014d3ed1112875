//! The stats slice: revenue, popularity, pets and candy, kept in Redis from booking events.

pub mod consumers;
pub mod keys;
pub mod queries;
pub mod ranking;

/// The ce-source of this slice's replies.
pub const SOURCE: &str = "/skybook/stats";
