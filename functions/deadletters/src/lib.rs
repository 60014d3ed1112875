//! The dead-letters slice: each event the broker gave up on, stored with the
//! reason, listed, and replayed to the broker on an operator's word.

pub mod commands;
pub mod consumers;
pub mod model;
pub mod queries;
pub mod retention;

/// The ce-source of this slice's replies.
pub const SOURCE: &str = "/skybook/dead-letters";

/// Every function of the slice, as its binaries serve them: for what reads
/// their contracts (the published schemas, the EventTypes).
pub fn functions() -> Vec<shared::Function> {
    vec![
        queries::list_dead_letters::function(),
        commands::replay_dead_letters::function(),
        consumers::store_dead_letter::function(),
    ]
}
