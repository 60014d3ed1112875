//! What a function is: its contract ([`Spec`]) and its handler, a plain async
//! fn from typed input to typed output. Queries get a [`Ctx`]; commands get a
//! [`Tx`], a transaction that also makes the command idempotent (and may try
//! a [`OneShot`] first: the same in one statement).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::Utc;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cloudevent::{Incoming, ReplyEvent};
use crate::contract::{Contract, schema_for};
use crate::error::{Error, Result};
use crate::metrics::Registered;

mod command;
mod ctx;
mod one_shot;
mod rendered;
mod spec;
mod tx;

pub(crate) use command::REPLAYS;
pub use ctx::Ctx;
pub use one_shot::OneShot;
pub use rendered::Rendered;
pub use spec::{Dependency, Spec};
pub use tx::{Done, Tx};

pub(crate) static EVENT_AGE: crate::metrics::Histograms = crate::metrics::histograms(
    "event_age_seconds",
    "From an event's time to a consumer handling it, by function: the pipeline's delay",
);

/// A reply payload. `subject` names the entity it is about (the reply's
/// ce-subject); lists and other aggregates have none.
pub trait Reply: Serialize {
    fn subject(&self) -> Option<String> {
        None
    }
}

pub(super) fn reply_event<O: Reply>(spec: &Spec, output: &O) -> Result<ReplyEvent> {
    let Some(ty) = spec.replies else {
        return Err(anyhow::anyhow!("{} answers, but its spec names no reply type", spec.name).into());
    };
    Ok(ReplyEvent {
        id: uuid::Uuid::now_v7().to_string(),
        ty: ty.to_owned(),
        source: spec.source.to_owned(),
        subject: output.subject(),
        time: Utc::now(),
        data: serde_json::to_string(output).map_err(anyhow::Error::from)?,
    })
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Invoke = dyn Fn(Ctx, Incoming) -> BoxFuture<Result<Option<ReplyEvent>>> + Send + Sync;

/// A function ready to serve: its spec and its type-erased handler.
#[derive(Clone)]
pub struct Function {
    pub spec: Spec,
    pub kind: Kind,
    /// The schemas of its input and output, from their types.
    pub contract: Contract,
    /// The slices' sections of settings it reads, besides the runtime's.
    pub sections: Vec<ctx::SectionLoader>,
    /// The metric families its handler reports, besides the runtime's.
    metrics: Vec<&'static dyn Registered>,
    /// The files a site serves.
    pub site: Option<crate::site::Site>,
    invoke: Arc<Invoke>,
}

/// What a function is, and so who calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reads; called by clients.
    Query,
    /// Writes in one transaction; called by clients.
    Command,
    /// Takes events from the Broker's Triggers or a PingSource: with sender
    /// identity on, only from them.
    Consumer,
    /// Serves a site (a page a browser loads) by GET; takes no events.
    Site,
}

impl Function {
    /// A query: reads, never writes, so it needs no transaction.
    pub fn query<I, O, F, Fut>(spec: Spec, handler: F) -> Self
    where
        I: DeserializeOwned + JsonSchema + Send + 'static,
        O: Reply + JsonSchema + Send + 'static,
        F: Fn(Ctx, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let invoke = move |ctx: Ctx, incoming: Incoming| -> BoxFuture<Result<Option<ReplyEvent>>> {
            let handler = handler.clone();
            Box::pin(async move {
                let input: I = incoming.decode()?;
                let output = handler(ctx, input).await?;
                reply_event(&spec, &output).map(Some)
            })
        };
        let contract = Contract { accepts: schema_for::<I>, replies: Some(schema_for::<O>) };
        Function {
            spec,
            kind: Kind::Query,
            contract,
            sections: Vec::new(),
            metrics: Vec::new(),
            site: None,
            invoke: Arc::new(invoke),
        }
    }

    /// A command that waits on the network between its writes (a replay
    /// sends events to the broker): it runs no transaction of the runtime's,
    /// so none is held, nor a pooled connection pinned, while it waits; it
    /// writes in short statements of its own (`ctx.db()`), and must be safe
    /// to repeat by itself, as no idempotency key is claimed for it.
    pub fn command_in_steps<I, O, F, Fut>(spec: Spec, handler: F) -> Self
    where
        I: DeserializeOwned + JsonSchema + Send + 'static,
        O: Reply + JsonSchema + Send + 'static,
        F: Fn(Ctx, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O>> + Send + 'static,
    {
        Function { kind: Kind::Command, ..Function::query(spec, handler) }
    }

    /// A consumer: takes events from the broker (or a PingSource) and
    /// answers 202 with no body, since a reply would be routed back in.
    pub fn consumer<I, F, Fut>(spec: Spec, handler: F) -> Self
    where
        I: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(Ctx, Incoming, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let invoke = move |ctx: Ctx, incoming: Incoming| -> BoxFuture<Result<Option<ReplyEvent>>> {
            let handler = handler.clone();
            Box::pin(async move {
                let input: I = incoming.decode()?;
                let time = incoming.time;
                handler(ctx, incoming, input).await?;
                // How long the event took from its producer to being handled here.
                if let Some(time) = time {
                    let age = (Utc::now() - time).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
                    EVENT_AGE.get_or_create(&crate::metrics::labels(&[("function", spec.name)])).observe(age);
                }
                Ok(None)
            })
        };
        let contract = Contract { accepts: schema_for::<I>, replies: None };
        Function {
            spec,
            kind: Kind::Consumer,
            contract,
            sections: Vec::new(),
            metrics: Vec::new(),
            site: None,
            invoke: Arc::new(invoke),
        }
    }

    /// A site: `site`'s files by GET, and `/config.json` (each function's
    /// URL, from `FUNCTION_URLS`, and the identity provider) for its page.
    pub fn site(spec: Spec, site: crate::site::Site) -> Self {
        let invoke = |_: Ctx, _: Incoming| -> BoxFuture<Result<Option<ReplyEvent>>> {
            Box::pin(async { Err(Error::MethodNotAllowed { allow: "GET" }) })
        };
        let contract = Contract { accepts: schema_for::<()>, replies: None };
        Function {
            spec,
            kind: Kind::Site,
            contract,
            sections: Vec::new(),
            metrics: Vec::new(),
            site: Some(site),
            invoke: Arc::new(invoke),
        }
        .with_settings::<crate::site::SiteSettings>()
    }

    /// Reads the section `S` of settings at start (a bad value stops the
    /// function with one line naming it), for the handler's [`Ctx::section`].
    pub fn with_settings<S: crate::config::Section>(mut self) -> Self {
        self.sections.push(ctx::SectionLoader::of::<S>());
        self
    }

    /// Registers these families when the function starts, so a scrape
    /// shows them before they first move.
    pub fn with_metrics(mut self, families: &[&'static dyn Registered]) -> Self {
        self.metrics.extend_from_slice(families);
        self
    }

    /// Every metric family this function reports: the server's, those of
    /// the parts of the runtime its spec uses, and its handler's own.
    pub fn metrics(&self) -> Vec<&'static dyn Registered> {
        let spec = &self.spec;
        let mut families: Vec<&'static dyn Registered> = crate::metrics::SERVER.to_vec();
        match self.kind {
            Kind::Command => families.push(&REPLAYS),
            Kind::Consumer => families.push(&EVENT_AGE),
            Kind::Query | Kind::Site => {}
        }
        if spec.dependencies.contains(&Dependency::Postgres) {
            families.extend_from_slice(crate::db::METRICS);
        }
        if spec.dependencies.contains(&Dependency::Redis) || spec.rate_limit.is_on() {
            families.push(&crate::redis::ERRORS);
        }
        if spec.rate_limit.is_on() {
            families.push(&crate::ratelimit::REFUSED);
        }
        if !spec.emits.is_empty() {
            families.push(&crate::outbox::SENT);
        }
        families.extend(self.metrics.iter().copied());
        families
    }

    /// Every setting this function reads: the runtime's and its sections', with their defaults.
    pub fn settings_read(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        let runtime = <crate::config::Settings as crate::config::Section>::DEFAULTS.iter();
        runtime.chain(self.sections.iter().flat_map(|s| s.defaults.iter())).copied()
    }

    pub(crate) async fn invoke(&self, ctx: Ctx, incoming: Incoming) -> Result<Option<ReplyEvent>> {
        (self.invoke)(ctx, incoming).await
    }
}

impl<O: Reply> Reply for Vec<O> {}

/// Reads an error that is `None` as "not found".
pub trait OrNotFound<T> {
    fn or_not_found(self, code: &'static str, message: impl FnOnce() -> String) -> Result<T>;
}

impl<T> OrNotFound<T> for Option<T> {
    fn or_not_found(self, code: &'static str, message: impl FnOnce() -> String) -> Result<T> {
        self.ok_or_else(|| Error::not_found(code, message()))
    }
}
