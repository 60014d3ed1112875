//! A function's spec: its name, what it accepts, replies and emits, who may
//! call it, what it depends on; built from the name, source and access with
//! only what differs from the defaults.

use crate::auth::Access;

/// The contract of one function, as in the table of DESIGN.md.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    /// The ce-types it accepts; plain JSON is read as the first.
    pub accepts: &'static [&'static str],
    /// The ce-type of its reply; a consumer has none (it answers 202, no body).
    pub replies: Option<&'static str>,
    /// The event types it sends to the Broker (it gets `K_SINK`), or
    /// [`ANY_TYPE`](crate::cloudevent::ANY_TYPE) for one that sends on
    /// others' events (the outbox relay, a replay). [`Tx::emit`] refuses any other.
    pub emits: &'static [&'static str],
    /// The ce-source of its replies and events, `/skybook/<slice>`.
    pub source: &'static str,
    /// Who may call it, applied by the runtime before the handler runs.
    pub access: Access,
    /// The services this function talks to (`/health/dependencies`).
    pub dependencies: &'static [Dependency],
    /// Whether each caller is held to `RATE_LIMIT_PER_MINUTE` (counted in
    /// Redis), and what a Redis error means for the request.
    pub rate_limit: crate::ratelimit::RateLimit,
}

impl Spec {
    /// A function of the slice whose ce-source is `source`, which `access`
    /// may call. Until said otherwise it accepts nothing, replies nothing,
    /// emits nothing, uses PostgreSQL alone and is not rate-limited.
    pub const fn new(name: &'static str, source: &'static str, access: Access) -> Spec {
        Spec {
            name,
            accepts: &[],
            replies: None,
            emits: &[],
            source,
            access,
            dependencies: &[Dependency::Postgres],
            rate_limit: crate::ratelimit::RateLimit::Off,
        }
    }

    pub const fn accepts(self, types: &'static [&'static str]) -> Spec {
        Spec { accepts: types, ..self }
    }

    pub const fn replies(self, ty: &'static str) -> Spec {
        Spec { replies: Some(ty), ..self }
    }

    pub const fn emits(self, types: &'static [&'static str]) -> Spec {
        Spec { emits: types, ..self }
    }

    pub const fn dependencies(self, dependencies: &'static [Dependency]) -> Spec {
        Spec { dependencies, ..self }
    }

    pub const fn rate_limit(self, rate_limit: crate::ratelimit::RateLimit) -> Spec {
        Spec { rate_limit, ..self }
    }
}

/// A service a function depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    Postgres,
    Redis,
}

impl Dependency {
    pub fn name(self) -> &'static str {
        match self {
            Dependency::Postgres => "postgres",
            Dependency::Redis => "redis",
        }
    }
}
