//! The bookings slice: a seat on a flight at the price of the rule, and its cancellation.

pub mod commands;
pub mod model;
pub mod queries;

/// The ce-source of every reply and event of this slice.
pub const SOURCE: &str = "/skybook/bookings";

/// Emitted when a booking is cancelled; reverses the stats.
pub use domain::events::BOOKING_CANCELLED;
/// Emitted when a booking is confirmed; the stats consumer's input.
pub use domain::events::BOOKING_CREATED;

/// Every function of the slice, as its binaries serve them: for what reads
/// their contracts (the published schemas, the EventTypes).
pub fn functions() -> Vec<shared::Function> {
    vec![
        commands::cancel_booking::function(),
        commands::create_booking::function(),
        queries::get_booking::function(),
        queries::list_bookings::function(),
    ]
}
