//! Queries: the functions that ask the model.

pub mod ai_chat;
pub mod suggest_price;
