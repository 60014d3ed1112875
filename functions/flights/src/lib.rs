//! The flights slice: flights to destinations, their seats and the price a passenger pays.

pub mod commands;
pub mod model;
pub mod queries;

/// The ce-source of every reply and event of this slice.
pub const SOURCE: &str = "/skybook/flights";

/// Every function of the slice, as its binaries serve them: for what reads
/// their contracts (the published schemas, the EventTypes).
pub fn functions() -> Vec<shared::Function> {
    vec![
        commands::create_flight::function(),
        queries::get_flight::function(),
        queries::list_flights::function(),
    ]
}
