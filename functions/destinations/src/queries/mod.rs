//! Queries: the functions that read destinations.

pub mod list_destinations;
