//! Commands: the functions that write flights.

pub mod create_flight;
