//! Commands: what an operator does with dead letters.

pub mod replay_dead_letters;
