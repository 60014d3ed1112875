//! The outbox slice: the relay that publishes events left unsent.

pub mod consumers;
pub mod settings;

/// The ce-source of this slice.
pub const SOURCE: &str = "/skybook/outbox";

/// Every function of the slice, as its binaries serve them: for what reads
/// their contracts (the published schemas, the EventTypes).
pub fn functions() -> Vec<shared::Function> {
    vec![consumers::relay_outbox::function()]
}
