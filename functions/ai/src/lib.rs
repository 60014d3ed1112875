//! The AI slice: answers about flights and price suggestions, grounded in
//! real data (PostgreSQL and Redis) that the model asks for through tools.

pub mod groq;
pub mod queries;
pub mod settings;
pub mod tools;

/// The ce-source of this slice's replies.
pub const SOURCE: &str = "/skybook/ai";

/// Every function of the slice, as its binaries serve them: for what reads
/// their contracts (the published schemas, the EventTypes).
pub fn functions() -> Vec<shared::Function> {
    vec![queries::ai_chat::function(), queries::suggest_price::function()]
}
