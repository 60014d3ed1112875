//! The stats slice: revenue, popularity, pets and candy, kept in Redis from booking events.

pub mod consumers;
pub mod keys;
pub mod queries;
pub mod read;
pub mod settings;
#[cfg(feature = "testing")]
pub mod testing;

/// The ce-source of this slice's replies.
pub const SOURCE: &str = "/skybook/stats";

pub(crate) static DUPLICATES: shared::metrics::Counters = shared::metrics::counters(
    "events_duplicates",
    "Events a consumer had applied already and dropped, by function",
);

/// Counts an event a consumer had already applied.
pub(crate) fn duplicate(function: &str) {
    DUPLICATES.get_or_create(&shared::metrics::labels(&[("function", function)])).inc();
}

/// Starts a consumer's duplicate count at zero, so it shows before the first duplicate.
pub(crate) fn count_duplicates_of(function: &str) {
    let _ = DUPLICATES.get_or_create(&shared::metrics::labels(&[("function", function)]));
}

/// Every function of the slice, as its binaries serve them: for what reads
/// their contracts (the published schemas, the EventTypes).
pub fn functions() -> Vec<shared::Function> {
    vec![
        queries::get_stats::function(),
        consumers::reconcile_stats::function(),
        consumers::record_booking_stats::function(),
        consumers::record_destination_name::function(),
    ]
}
