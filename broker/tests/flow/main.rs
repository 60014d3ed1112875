//! The broker as a process of its own on a real RabbitMQ: delivery, retries,
//! dead letters, filters, replies, crashes, and the whole booking flow to Redis.

mod delivery;
mod end_to_end;
mod helpers;
mod interop;
