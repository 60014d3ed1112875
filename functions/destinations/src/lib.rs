//! The destinations slice: where flights go, their tax, promotion and pet rules.

pub mod commands;
pub mod model;
pub mod queries;

/// The ce-source of every reply and event of this slice.
pub const SOURCE: &str = "/skybook/destinations";

/// Every function of the slice, as its binaries serve them: for what reads
/// their contracts (the published schemas, the EventTypes).
pub fn functions() -> Vec<shared::Function> {
    vec![
        commands::create_destination::function(),
        queries::list_destinations::function(),
        commands::update_destination::function(),
    ]
}
