//! Queries: the functions that read flights.

pub mod get_flight;
pub mod list_flights;
