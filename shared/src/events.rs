//! The event types that cross slices: one name each, for producers and consumers alike.

pub const BOOKING_CREATED: &str = "skybook.booking.created";
pub const BOOKING_CANCELLED: &str = "skybook.booking.cancelled";
/// A destination changed (its name, say): data is the destination as it now is.
pub const DESTINATION_UPDATED: &str = "skybook.destination.updated";
/// What a PingSource sends on every tick.
pub const PING: &str = "dev.knative.sources.ping";
/// An operator asks for the stats to be rebuilt from PostgreSQL now.
pub const STATS_REBUILD: &str = "skybook.stats.rebuild";

/// Every type above: what a metric may name (anything else is `other`).
pub const ALL: &[&str] = &[BOOKING_CREATED, BOOKING_CANCELLED, DESTINATION_UPDATED, PING, STATS_REBUILD];
