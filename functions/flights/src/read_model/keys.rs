//! The Redis keys of the flights read model. Every key carries the hash tag
//! `{skybook}`, so one script may touch any of them on Redis Cluster too.

use uuid::Uuid;

/// A hash per flight, by its id: `version` and `doc` (the flight's row).
pub const FLIGHT_PREFIX: &str = "flights:{skybook}:flight:";
/// A hash per destination, by its id: `version` and `doc` (its price terms).
pub const DESTINATION_PREFIX: &str = "flights:{skybook}:destination:";
/// Every flight by departure (a sorted set, scored in microseconds).
pub const BY_DEPARTURE: &str = "flights:{skybook}:by_departure";
/// One destination's flights by departure, by the destination's id.
pub const BY_DEPARTURE_TO: &str = "flights:{skybook}:by_departure:";
/// Set once a rebuild has loaded every upcoming flight: until then lists
/// are read from PostgreSQL.
pub const READY: &str = "flights:{skybook}:ready";
/// Where the sweep that checks the read model against PostgreSQL, a part
/// each tick, goes on from: a departure and an id.
pub const SWEEP_CURSOR: &str = "flights:{skybook}:sweep_cursor";

pub fn flight(id: &Uuid) -> String {
    format!("{FLIGHT_PREFIX}{id}")
}

pub fn destination(id: &Uuid) -> String {
    format!("{DESTINATION_PREFIX}{id}")
}

pub fn by_departure_to(destination: &Uuid) -> String {
    format!("{BY_DEPARTURE_TO}{destination}")
}
