//! Consumers: what the broker delivers to this slice.

pub mod store_dead_letter;
