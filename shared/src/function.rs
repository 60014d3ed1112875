//! What a function is: its contract ([`Spec`]) and its handler, a plain async
//! fn from typed input to typed output. Queries get a [`Ctx`]; commands get a
//! [`Tx`], a transaction that also makes the command idempotent.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{SubsecRound, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::cloudevent::{Incoming, ReplyEvent};
use crate::config::Settings;
use crate::contract::{Contract, schema_for};
use crate::db::{Conn, Database, Exec};
use crate::error::{Error, Result};
use crate::idempotency;
use crate::outbox::{self, OutboxEvent};

static REPLAYS: std::sync::LazyLock<crate::metrics::CounterFamily> = std::sync::LazyLock::new(|| {
    crate::metrics::counter_family(
        "idempotent_replays",
        "Commands delivered again and answered with their first reply, unexecuted, by function",
    )
});

static EVENT_AGE: std::sync::LazyLock<crate::metrics::HistogramFamily> = std::sync::LazyLock::new(|| {
    crate::metrics::histogram_family(
        "event_age_seconds",
        "From an event's time to a consumer handling it, by function: the pipeline's delay",
    )
});

/// Registers this module's metrics, so /metrics shows them before they first move.
pub(crate) fn register_metrics() {
    std::sync::LazyLock::force(&REPLAYS);
    std::sync::LazyLock::force(&EVENT_AGE);
}

/// The contract of one function, as in the table of DESIGN.md.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    /// The ce-types it accepts; plain JSON is read as the first.
    pub accepts: &'static [&'static str],
    /// The ce-type of its reply.
    pub replies: &'static str,
    /// The ce-source of its replies and events, `/skybook/<slice>`.
    pub source: &'static str,
    /// Whether a bearer key is required when `AUTH_API_KEYS` is set.
    pub authenticated: bool,
    /// The services this function talks to (`/health/dependencies`).
    pub dependencies: &'static [Dependency],
    /// Whether each client is held to `RATE_LIMIT_PER_MINUTE` (counted in Redis).
    pub rate_limited: bool,
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

/// A reply payload. `subject` names the entity it is about (the reply's
/// ce-subject); lists and other aggregates have none.
pub trait Reply: Serialize {
    fn subject(&self) -> Option<String> {
        None
    }
}

/// What every handler can reach: settings, the (lazy) database pool and
/// the process's one HTTP client.
#[derive(Clone)]
pub struct Ctx {
    inner: Arc<CtxInner>,
}

struct CtxInner {
    settings: Settings,
    db: Database,
    redis: crate::redis::Redis,
    http: reqwest::Client,
    /// Sends committed events to `K_SINK` after the reply; none without a sink.
    publisher: Option<outbox::Publisher>,
    /// Clients a slice builds once per process (the model's, say), by type.
    singletons:
        std::sync::Mutex<std::collections::HashMap<std::any::TypeId, Arc<dyn std::any::Any + Send + Sync>>>,
}

impl Ctx {
    pub fn new(settings: Settings) -> std::result::Result<Self, String> {
        let db = Database::new(&settings)?;
        let redis = crate::redis::lazy_connection(&settings)?;
        let mut http = reqwest::Client::builder()
            .timeout(settings.publish_timeout())
            .connect_timeout(settings.publish_timeout())
            .pool_idle_timeout(std::time::Duration::from_secs(30));
        // A TLS sink signed by the cluster's own CA (K_CA_CERTS, PEM).
        if let Some(pem) = &settings.k_ca_certs {
            let certificates = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| format!("configuration: K_CA_CERTS: not PEM certificates: {e}"))?;
            if certificates.is_empty() {
                return Err("configuration: K_CA_CERTS: holds no certificate".into());
            }
            for certificate in certificates {
                http = http.add_root_certificate(certificate);
            }
        }
        let http = http.build().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let publisher = settings.k_sink.clone().map(|url| {
            let sink = outbox::Sink { url, http: http.clone(), overrides: settings.k_ce_overrides.clone() };
            outbox::Publisher::start(sink, db.clone())
        });
        Ok(Ctx {
            inner: Arc::new(CtxInner {
                settings,
                db,
                redis,
                http,
                publisher,
                singletons: Default::default(),
            }),
        })
    }

    /// The HTTP client for outbound calls (the sink): built once, pooled.
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Hands committed events to the background sender; the caller does not wait.
    pub fn publish(&self, events: Vec<OutboxEvent>) {
        if let Some(publisher) = &self.inner.publisher {
            publisher.enqueue(events);
        }
    }

    /// Sends what the process still owes the sink, for at most `grace`.
    pub async fn flush_events(&self, grace: std::time::Duration) {
        if let Some(publisher) = &self.inner.publisher {
            publisher.flush(grace).await;
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn db(&self) -> &Database {
        &self.inner.db
    }

    /// The process's one `T`, built from the settings on first use.
    pub fn singleton<T: Send + Sync + 'static>(&self, build: impl FnOnce(&Settings) -> T) -> Arc<T> {
        let mut singletons = self.inner.singletons.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = singletons
            .entry(std::any::TypeId::of::<T>())
            .or_insert_with(|| Arc::new(build(&self.inner.settings)) as Arc<dyn std::any::Any + Send + Sync>)
            .clone();
        drop(singletons);
        entry.downcast::<T>().unwrap_or_else(|_| unreachable!("singletons are keyed by their type"))
    }

    /// A handle on the process's Redis connection (cheap to clone, multiplexed).
    pub fn redis(&self) -> crate::redis::Redis {
        self.inner.redis.clone()
    }
}

/// A command's transaction. Everything the command writes goes through
/// [`Tx::conn`]; [`Tx::commit`] stores the reply beside the writes, so a
/// redelivered command is answered from the store and changes nothing.
pub struct Tx {
    tx: Conn,
    ctx: Ctx,
    spec: Spec,
    claim: Option<idempotency::Claim>,
    traceparent: Option<String>,
    events: Vec<OutboxEvent>,
}

/// A committed command's reply. Only [`Tx::commit`] makes one, so a command
/// handler cannot return without committing.
pub struct Done<O> {
    pub output: O,
    reply: ReplyEvent,
    events: Vec<OutboxEvent>,
}

impl Tx {
    /// What runs the command's statements: `.execute(tx.conn())`.
    pub fn conn(&mut self) -> Exec<'_> {
        self.tx.exec()
    }

    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    /// The key that makes this command idempotent, if the request had one.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.claim.as_ref().map(idempotency::Claim::key)
    }

    /// Writes an event to the outbox in this transaction. It is published
    /// to the broker once the command commits, after the reply (and by the
    /// relay if that fails).
    pub async fn emit(&mut self, ty: &str, subject: String, data: &impl Serialize) -> Result<Uuid> {
        let event_id = Uuid::now_v7();
        // The event is created here, in this command's trace: it carries
        // that context however late it is sent. Untraced, the caller's.
        let traceparent = crate::telemetry::trace_context::create_event(ty, &event_id.to_string())
            .or_else(|| self.traceparent.clone());
        let event = OutboxEvent {
            event_id,
            ty: ty.to_owned(),
            source: self.spec.source.to_owned(),
            subject,
            data: serde_json::to_value(data).map_err(anyhow::Error::from)?,
            traceparent,
            // PostgreSQL keeps microseconds: the event sent later by the
            // relay, and the reply, carry exactly this time.
            created_at: Utc::now().trunc_subsecs(6),
        };
        outbox::insert(self.tx.exec(), &event).await?;
        let id = event.event_id;
        self.events.push(event);
        Ok(id)
    }

    /// Stores the reply with the idempotency claim and commits both with the
    /// command's writes.
    pub async fn commit<O: Reply>(mut self, output: O) -> Result<Done<O>> {
        let mut reply = reply_event(&self.spec, &output)?;
        // A command whose reply is the event it emitted (create-booking answers
        // with its skybook.booking.created) answers with that very event, id
        // and time included: should a Trigger route the reply, consumers see
        // the same source and id twice and count it once.
        if let Some(event) = self.events.iter().find(|e| e.ty == reply.ty && e.source == reply.source) {
            reply.id = event.event_id.to_string();
            reply.time = event.created_at;
        }
        if let Some(claim) = &self.claim {
            idempotency::complete(self.tx.exec(), claim, &reply).await?;
        }
        self.tx.commit().await?;
        Ok(Done { output, reply, events: self.events })
    }
}

fn reply_event<O: Reply>(spec: &Spec, output: &O) -> Result<ReplyEvent> {
    Ok(ReplyEvent {
        id: uuid::Uuid::now_v7().to_string(),
        ty: spec.replies.to_owned(),
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
        Function { spec, kind: Kind::Query, contract, invoke: Arc::new(invoke) }
    }

    /// A command: runs in one transaction with its idempotency claim; a
    /// command seen before is answered with its first reply, unexecuted.
    pub fn command<I, O, F, Fut>(spec: Spec, handler: F) -> Self
    where
        I: DeserializeOwned + Serialize + JsonSchema + Send + 'static,
        O: Reply + JsonSchema + Send + 'static,
        F: Fn(Tx, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Done<O>>> + Send + 'static,
    {
        let _ = REPLAYS.get_or_create(&crate::metrics::labels(&[("function", spec.name)]));
        let handler = Arc::new(handler);
        let invoke = move |ctx: Ctx, incoming: Incoming| -> BoxFuture<Result<Option<ReplyEvent>>> {
            let handler = handler.clone();
            Box::pin(async move {
                let input: I = incoming.decode()?;
                let mut tx = ctx.db().begin().await?;
                let claim = match &incoming.idempotency_key {
                    None => None,
                    Some(key) => {
                        // The request as the handler saw it: a key reused with
                        // other data is refused rather than silently replayed.
                        let request = serde_json::to_value(&input).map_err(anyhow::Error::from)?;
                        match idempotency::claim(&mut tx, spec.name, key, &request).await? {
                            idempotency::Outcome::Claimed(claim) => Some(claim),
                            idempotency::Outcome::Replay(reply) => {
                                REPLAYS
                                    .get_or_create(&crate::metrics::labels(&[("function", spec.name)]))
                                    .inc();
                                return Ok(Some(*reply));
                            }
                        }
                    }
                };
                let traceparent = incoming.traceparent.clone();
                let tx = Tx { tx, ctx: ctx.clone(), spec, claim, traceparent, events: Vec::new() };
                let done = handler(tx, input).await?;
                // The events are safe in the outbox: the reply need not wait for the broker.
                ctx.publish(done.events);
                Ok(Some(done.reply))
            })
        };
        let contract = Contract { accepts: schema_for::<I>, replies: Some(schema_for::<O>) };
        Function { spec, kind: Kind::Command, contract, invoke: Arc::new(invoke) }
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
        Function { spec, kind: Kind::Consumer, contract, invoke: Arc::new(invoke) }
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
