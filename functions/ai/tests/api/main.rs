//! The AI functions against real PostgreSQL and Redis, talking to a local
//! server that speaks the chat-completions protocol, tool calls included.

mod ai_chat;
mod fake_groq;
mod no_secret_in_logs;
mod suggest_price;
