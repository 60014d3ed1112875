//! The broker as a process of its own on a real RabbitMQ: delivery, retries,
//! dead letters, filters, replies, crashes, the whole booking flow to Redis,
//! and the conformance suite.

mod conformance;
mod delivery;
mod end_to_end;
mod helpers;
mod interop;
