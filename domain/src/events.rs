//! The event types that cross slices: one name each, for producers and consumers alike.

pub const BOOKING_CREATED: &str = "skybook.booking.created";
pub const BOOKING_CANCELLED: &str = "skybook.booking.cancelled";
pub const DESTINATION_UPDATED: &str = "skybook.destination.updated";
pub const FLIGHT_CREATED: &str = "skybook.flight.created";
/// An operator asks for the stats to be rebuilt from PostgreSQL now.
pub const STATS_REBUILD: &str = "skybook.stats.rebuild";

/// Every type above: what a metric may name (anything else is `other`).
pub const ALL: &[&str] =
    &[BOOKING_CREATED, BOOKING_CANCELLED, DESTINATION_UPDATED, FLIGHT_CREATED, STATS_REBUILD];

/// What an event on the Broker means, for its EventType.
pub fn description(ty: &str) -> Option<&'static str> {
    Some(match ty {
        BOOKING_CREATED => "A booking was confirmed; data is the booking with its price breakdown.",
        BOOKING_CANCELLED => "A booking was cancelled; data is the booking as cancelled.",
        DESTINATION_UPDATED => "A destination changed (a rename, say); data is the destination as it now is.",
        FLIGHT_CREATED => "A flight was scheduled; data is the flight, with its seats left and price.",
        _ => return None,
    })
}
