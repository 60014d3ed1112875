//! What every slice agrees on, apart from the runtime: money and the price
//! rule, and the names of the events that cross slices.

pub mod events;
pub mod money;
