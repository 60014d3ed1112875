//! The one runtime every Skybook function uses.
//!
//! A function binary names its handler and calls [`serve`]; everything else a
//! function needs (HTTP, CloudEvents, errors, configuration, telemetry,
//! health, metrics, the database, idempotency) lives here, once. What the
//! slices agree on about the domain (money, event names) is the `domain`
//! crate's, not the runtime's.
//!
//! The modules are layered: each imports only from its own layer or an
//! earlier one (`tests/layers.rs` holds them to it):
//! 1. vocabulary: `contract`, `metrics`;
//! 2. transport: `body`, `http`, `forwarded`, `error`, `cloudevent`, `config`, `telemetry`,
//!    `lifecycle`, `auth`;
//! 3. state: `db`, `redis`, `idempotency`, `outbox`, `ratelimit`;
//! 4. the function shape: `function`, `page`, `server`, `site`;
//! 5. `testing`, the fixtures of the tests, built only for them.

// 1. Vocabulary
pub mod contract;
pub mod metrics;

// 2. Transport
#[cfg(feature = "functions")]
pub mod auth;
pub mod body;
pub mod cloudevent;
pub mod config;
pub mod error;
pub mod forwarded;
pub mod http;
pub mod lifecycle;
pub mod telemetry;

// 3. State
#[cfg(feature = "functions")]
pub mod db;
#[cfg(feature = "functions")]
pub mod idempotency;
#[cfg(feature = "functions")]
pub mod outbox;
#[cfg(feature = "functions")]
pub mod ratelimit;
#[cfg(feature = "functions")]
pub mod redis;

// 4. The function shape
#[cfg(feature = "functions")]
pub mod function;
#[cfg(feature = "functions")]
pub mod page;
#[cfg(feature = "functions")]
pub mod server;
#[cfg(feature = "functions")]
pub mod site;

// 5. Test fixtures
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Error, Result};
#[cfg(feature = "functions")]
pub use function::{Ctx, Dependency, Done, Function, Kind, OneShot, Rendered, Reply, Spec, Tx};
#[cfg(feature = "functions")]
pub use server::serve;
