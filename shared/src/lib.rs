//! The one runtime every Skybook function uses.
//!
//! A function binary names its handler and calls [`serve`]; everything else a
//! function needs (HTTP, CloudEvents, errors, configuration, telemetry,
//! health, metrics, the database, idempotency) lives here, once.

pub mod auth;
pub mod cloudevent;
pub mod config;
pub mod contract;
pub mod db;
pub mod error;
pub mod events;
pub mod function;
pub mod idempotency;
pub mod metrics;
pub mod money;
pub mod outbox;
pub mod page;
pub mod ratelimit;
pub mod redis;
pub mod server;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Error, Result};
pub use function::{Ctx, Dependency, Done, Function, Kind, Reply, Spec, Tx};
pub use server::serve;
