//! The dead-letters slice: each event the broker gave up on, stored with the
//! reason, listed, and replayed to the broker on an operator's word.

pub mod commands;
pub mod consumers;
pub mod model;
pub mod queries;

/// The ce-source of this slice's replies.
pub const SOURCE: &str = "/skybook/dead-letters";
