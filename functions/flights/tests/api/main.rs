//! The flights functions over real HTTP against a real PostgreSQL.

mod browser;
mod create_flight;
mod get_flight;
mod helpers;
mod list_flights;
mod read_model;
