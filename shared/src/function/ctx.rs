//! What every handler reaches: the settings, the database, Redis, the HTTP
//! client, the sink and the process's singletons.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use crate::auth::{Caller, Role};
use crate::config::{Section, Settings};
use crate::db::Database;
use crate::error::{Error, Result};
use crate::outbox::{self, OutboxEvent};

/// What every handler can reach: settings, the (lazy) database pool and
/// the process's one HTTP client.
#[derive(Clone)]
pub struct Ctx {
    inner: Arc<CtxInner>,
    /// Who made the request being handled, when the request names anyone.
    caller: Option<Arc<Caller>>,
}

struct CtxInner {
    settings: Settings,
    db: Database,
    redis: crate::redis::Redis,
    /// Reads kept in memory until Redis invalidates them; made on first use.
    tracked: std::sync::OnceLock<crate::redis::Tracked>,
    /// `K_SINK`, when the platform gave one.
    sink: Option<outbox::Sink>,
    /// Sends committed events to the sink after the reply; none without a sink.
    publisher: Option<outbox::Publisher>,
    /// The slices' sections of settings the function reads, by type.
    sections: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    /// Clients a slice builds once per process (the model's, say), by type.
    singletons: std::sync::Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

/// Reads one section of settings at start: [`Function::with_settings`](super::Function::with_settings).
#[derive(Clone, Copy)]
pub struct SectionLoader {
    type_id: fn() -> TypeId,
    load: fn(&crate::config::Source) -> std::result::Result<Arc<dyn Any + Send + Sync>, String>,
    /// Its settings, with their defaults.
    pub defaults: &'static [(&'static str, &'static str)],
}

impl SectionLoader {
    pub(super) fn of<S: Section>() -> Self {
        SectionLoader {
            type_id: TypeId::of::<S>,
            load: |source| Ok(Arc::new(source.load::<S>()?)),
            defaults: S::DEFAULTS,
        }
    }
}

impl Ctx {
    pub fn new(settings: Settings) -> std::result::Result<Self, String> {
        Ctx::with_sections(settings, &[])
    }

    /// A context whose settings include these sections, read from the same
    /// source as `settings`.
    pub fn with_sections(settings: Settings, loaders: &[SectionLoader]) -> std::result::Result<Self, String> {
        let mut sections = HashMap::new();
        for loader in loaders {
            sections.insert((loader.type_id)(), (loader.load)(settings.source())?);
        }
        let db = Database::new(&settings)?;
        let redis = crate::redis::lazy_connection(&settings)?;
        // Both checked whether or not there is a sink: a bad value is a bad value.
        let keys = crate::cloudevent::signature::EventKeys::from_settings(&settings)?;
        let certificates = ca_certificates(&settings)?;
        // Only a function with a sink talks HTTP to anyone: no client (and
        // no TLS set-up) for the others.
        let sink = match settings.k_sink.as_deref() {
            Some(url) => Some(outbox::Sink {
                url: sink_url(url)?,
                http: sink_client(&settings, certificates)?,
                overrides: settings.k_ce_overrides.clone(),
                keys,
            }),
            None => None,
        };
        let publisher = sink.clone().map(|sink| outbox::Publisher::start(sink, db.clone()));
        Ok(Ctx {
            inner: Arc::new(CtxInner {
                settings,
                db,
                redis,
                tracked: Default::default(),
                sink,
                publisher,
                sections,
                singletons: Default::default(),
            }),
            caller: None,
        })
    }

    /// This context for one request, made by `caller`.
    pub(crate) fn for_caller(&self, caller: Option<Caller>) -> Ctx {
        Ctx { inner: self.inner.clone(), caller: caller.map(Arc::new) }
    }

    /// Who made the request, if it names anyone (public functions may be
    /// called by no one in particular; the others always have a caller).
    pub fn caller(&self) -> Option<&Caller> {
        self.caller.as_deref()
    }

    /// The caller, who must be signed in: for handlers whose access
    /// already requires it, so this fails only if the spec says otherwise.
    pub fn signed_in(&self) -> Result<&Caller> {
        self.caller().ok_or(Error::Unauthorized)
    }

    /// Whether the caller has one of `roles`.
    pub fn caller_is_any(&self, roles: &[Role]) -> bool {
        self.caller().is_some_and(|c| c.is_any(roles))
    }

    /// Where events go (`K_SINK`), if anywhere.
    pub fn sink(&self) -> Option<&outbox::Sink> {
        self.inner.sink.as_ref()
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

    /// A slice's section of settings, which the function reads at start
    /// ([`Function::with_settings`](super::Function::with_settings)).
    pub fn section<S: Section>(&self) -> Result<&S> {
        self.inner.sections.get(&TypeId::of::<S>()).and_then(|s| s.downcast_ref::<S>()).ok_or_else(|| {
            anyhow::anyhow!("{} is read, but the function does not name it", std::any::type_name::<S>())
                .into()
        })
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

    /// The process's tracked Redis connection, for reads of a read model
    /// that memory answers until Redis says what they read has changed
    /// ([`Tracked`](crate::redis::Tracked)); its own connection, opened on first use.
    pub fn tracked_redis(&self) -> Result<crate::redis::Tracked> {
        if let Some(tracked) = self.inner.tracked.get() {
            return Ok(tracked.clone());
        }
        let made = crate::redis::Tracked::lazy(&self.inner.settings, crate::redis::TRACKED_BYTES)
            .map_err(|e| anyhow::anyhow!("the tracked Redis connection: {e}"))?;
        Ok(self.inner.tracked.get_or_init(|| made).clone())
    }
}

/// The CA certificates to trust for a TLS sink (`K_CA_CERTS`, PEM).
fn ca_certificates(settings: &Settings) -> std::result::Result<Vec<reqwest::Certificate>, String> {
    let Some(pem) = &settings.k_ca_certs else { return Ok(Vec::new()) };
    let certificates = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
        .map_err(|e| format!("configuration: K_CA_CERTS: not PEM certificates: {e}"))?;
    if certificates.is_empty() {
        return Err("configuration: K_CA_CERTS: holds no certificate".into());
    }
    Ok(certificates)
}

/// Where events go (`K_SINK`): an absolute http(s) URL, or the process
/// does not start.
fn sink_url(url: &str) -> std::result::Result<reqwest::Url, String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("configuration: K_SINK: not a URL ({e}): {url}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
        return Err(format!("configuration: K_SINK: must be an http(s) URL with a host: {url}"));
    }
    Ok(parsed)
}

/// The client events go to the sink with: built once, pooled, trusting the
/// cluster's own CA when the sink is behind TLS.
fn sink_client(
    settings: &Settings,
    certificates: Vec<reqwest::Certificate>,
) -> std::result::Result<reqwest::Client, String> {
    let mut http = reqwest::Client::builder()
        .timeout(settings.publish_timeout())
        .connect_timeout(settings.publish_timeout())
        .pool_idle_timeout(std::time::Duration::from_secs(30));
    for certificate in certificates {
        http = http.add_root_certificate(certificate);
    }
    http.build().map_err(|e| format!("cannot build the HTTP client: {e}"))
}
