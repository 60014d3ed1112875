//! Commands: the functions that write destinations.

pub mod create_destination;
pub mod update_destination;
