//! The AI slice: answers about flights and price suggestions, grounded in
//! real data (PostgreSQL and Redis) that the model asks for through tools.

pub mod groq;
pub mod queries;
pub mod tools;

/// The ce-source of this slice's replies.
pub const SOURCE: &str = "/skybook/ai";
