//! The flights read model's keepers: one applies what the events say
//! changed, the other rebuilds and checks it on a schedule.

pub mod project_flights;
pub mod reconcile_flights;
