//! Queries: reading the dead letters.

pub mod list_dead_letters;
