//! The dead-letter functions over real HTTP against a real PostgreSQL, and a
//! real HTTP endpoint standing in for the broker a replay sends to.

mod dead_letters;
