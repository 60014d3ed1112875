//! The destinations functions over real HTTP against a real PostgreSQL.

mod create_destination;
mod identity;
mod list_destinations;
mod runtime;
mod update_destination;
