//! The flights slice: flights to destinations, their seats and the price a passenger pays.

pub mod commands;
pub mod consumers;
pub mod model;
pub mod queries;
pub mod read_model;

/// The ce-source of every reply and event of this slice.
pub const SOURCE: &str = "/skybook/flights";

/// Every function of the slice, as its binaries serve them: for what reads
/// their contracts (the published schemas, the EventTypes).
pub fn functions() -> Vec<shared::Function> {
    vec![
        commands::create_flight::function(),
        queries::get_flight::function(),
        queries::list_flights::function(),
        consumers::project_flights::function(),
        consumers::reconcile_flights::function(),
    ]
}
