//! Settings: defaults, then an optional file (`SKYBOOK_CONFIG`), then the environment.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Every setting a function reads. Environment variables use the same names
/// upper-cased (`PORT`, `DATABASE_URL`, `AUTH_API_KEYS`, ...).
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub port: u16,
    pub database_url: Secret,
    /// PostgreSQL itself, for the migrations, when DATABASE_URL goes
    /// through a transaction-mode pooler.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub migration_database_url: Option<Secret>,
    pub db_pool_size: u32,
    /// How long a request waits for a database connection before answering 503.
    pub db_acquire_timeout_ms: u64,
    pub redis_url: Secret,
    /// Where events go (a Knative Broker); injected by a SinkBinding.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub k_sink: Option<String>,
    /// Machine clients' bearer keys, each `role:secret` (`auth::keys`).
    #[serde(deserialize_with = "comma_list")]
    pub auth_api_keys: Vec<Secret>,
    /// The OIDC issuer of end users' bearer JWTs (`auth::users`); unset: no end users.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub auth_issuer: Option<String>,
    /// The audience end users' tokens must name.
    pub auth_audience: String,
    /// Where the issuer's keys are; unset: from its discovery document.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub auth_jwks_url: Option<String>,
    /// The claim holding a user's roles, a dotted path (`realm_access.roles`).
    pub auth_roles_claim: String,
    /// The JWS algorithms end users' tokens may be signed with.
    pub auth_algorithms: String,
    /// Lets a function that needs identities run without an issuer or keys;
    /// it must be said explicitly (tests do), never implied by an empty list.
    pub auth_disabled: bool,
    /// Sender identity (Knative's `authentication-oidc`): the functions the
    /// Broker and the PingSources call accept only events with a valid token
    /// from an allowed subject (`auth::oidc`).
    pub oidc_enabled: bool,
    /// Who issues the tokens: the cluster's service-account issuer.
    pub oidc_issuer: String,
    /// Where the issuer's keys are; unset: from its discovery document.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub oidc_jwks_url: Option<String>,
    /// The audience a token must name; unset: the function's name.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub oidc_audience: Option<String>,
    /// Who may send (token subjects, comma-separated; `*` matches any run of characters).
    #[serde(deserialize_with = "comma_list")]
    pub oidc_allowed_subjects: Vec<Secret>,
    /// The keys events are signed with (`cloudevent::signature`),
    /// comma-separated: the first signs what this function emits, each
    /// verifies what it consumes.
    #[serde(deserialize_with = "comma_list")]
    pub event_signing_keys: Vec<Secret>,
    /// The networks of the proxies in front of the function (the ingress,
    /// the activator, the queue-proxy) whose `X-Forwarded-For` entries are
    /// believed (`forwarded`); empty: the peer's address is the client's.
    pub trusted_proxies: crate::forwarded::TrustedProxies,
    /// How the database is reached: `session` (PostgreSQL itself, or a
    /// session pooler) or `transaction` (a transaction-mode pooler such as
    /// PgBouncer: no named statements, every statement in a transaction).
    pub db_pool_mode: PoolMode,
    /// Extensions the platform asks every emitted event to carry (a
    /// SinkBinding's `ceOverrides`, as JSON `{"extensions": {...}}`).
    #[serde(default, deserialize_with = "ce_overrides")]
    pub k_ce_overrides: BTreeMap<String, String>,
    /// The CA certificates (PEM) to trust for a TLS sink.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub k_ca_certs: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub groq_api_key: Option<Secret>,
    pub groq_base_url: String,
    pub groq_model: String,
    pub rust_log: String,
    pub log_format: LogFormat,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a client may take to send a request's body (408 after).
    pub body_timeout_ms: u64,
    /// PostgreSQL's `statement_timeout` for every connection: no query, or
    /// wait for a lock, holds a connection longer.
    pub db_statement_timeout_ms: u64,
    /// How long SIGTERM waits for in-flight requests.
    pub shutdown_grace_ms: u64,
    /// Timeout of one publish to `K_SINK`.
    pub publish_timeout_ms: u64,
    /// The relay leaves rows younger than this to the command that wrote them.
    pub outbox_grace_ms: u64,
    /// Rows one relay pass publishes at most.
    pub outbox_batch: i64,
    /// Days published outbox rows and idempotency keys are kept: at least
    /// the stats' memory of applied events (7 days), so a rebuild knows
    /// every event that could still arrive.
    pub retention_days: u32,
    /// How long reconcile-stats lets events under way land before it
    /// compares Redis with PostgreSQL.
    pub stats_settle_ms: u64,
    /// Requests a client may make each minute to a rate-limited function.
    pub rate_limit_per_minute: u32,
    /// Timeout of one call to the model.
    pub groq_timeout_ms: u64,
    /// The most one request to an AI function may take, retries and tool
    /// rounds included.
    pub ai_deadline_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolMode {
    Session,
    Transaction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// A value that never shows in logs or debug output.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

const DEFAULTS: &[(&str, &str)] = &[
    ("port", "8080"),
    ("database_url", "postgres://postgres:postgres@127.0.0.1:5432/skybook"),
    ("db_pool_size", "5"),
    ("db_acquire_timeout_ms", "5000"),
    ("redis_url", "redis://127.0.0.1:6379"),
    ("auth_api_keys", ""),
    ("auth_audience", "skybook"),
    ("auth_roles_claim", "roles"),
    ("auth_algorithms", "RS256,ES256"),
    ("auth_disabled", "false"),
    ("oidc_enabled", "false"),
    ("oidc_issuer", "https://kubernetes.default.svc.cluster.local"),
    ("oidc_allowed_subjects", ""),
    ("event_signing_keys", ""),
    ("trusted_proxies", ""),
    ("db_pool_mode", "session"),
    ("groq_base_url", "https://api.groq.com/openai/v1"),
    ("groq_model", "llama-3.3-70b-versatile"),
    ("rust_log", "info"),
    ("log_format", "json"),
    ("body_limit", "65536"),
    ("body_timeout_ms", "10000"),
    ("db_statement_timeout_ms", "10000"),
    ("shutdown_grace_ms", "25000"),
    ("publish_timeout_ms", "2000"),
    ("outbox_grace_ms", "10000"),
    ("outbox_batch", "100"),
    ("retention_days", "8"),
    ("stats_settle_ms", "5000"),
    ("rate_limit_per_minute", "30"),
    ("groq_timeout_ms", "20000"),
    ("ai_deadline_ms", "30000"),
];

impl Settings {
    /// Reads the settings of this process. The error is one line naming the
    /// setting at fault, ready to print before exiting.
    pub fn load() -> Result<Self, String> {
        let mut builder = Self::defaults()?;
        if let Ok(path) = std::env::var("SKYBOOK_CONFIG") {
            builder = builder.add_source(config::File::with_name(&path).required(true));
        }
        // Values stay strings here; serde converts each to its field's type,
        // so an error names the field rather than a parse step.
        Self::finish(builder.add_source(config::Environment::default()))
    }

    /// The defaults with some values replaced, ignoring the environment:
    /// for tests, which must not depend on the shell they run in.
    pub fn with_overrides(overrides: &[(&str, &str)]) -> Result<Self, String> {
        let mut builder = Self::defaults()?;
        for (key, value) in overrides {
            builder = builder.set_override(*key, *value).map_err(|e| e.to_string())?;
        }
        Self::finish(builder)
    }

    fn defaults() -> Result<config::ConfigBuilder<config::builder::DefaultState>, String> {
        let mut builder = config::Config::builder();
        for (key, value) in DEFAULTS {
            builder = builder.set_default(*key, *value).map_err(|e| e.to_string())?;
        }
        Ok(builder)
    }

    fn finish(builder: config::ConfigBuilder<config::builder::DefaultState>) -> Result<Self, String> {
        builder
            .build()
            .and_then(|c| c.try_deserialize::<Settings>())
            .map_err(|e| format!("configuration: {}", describe(e)))
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }

    pub fn db_acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.db_acquire_timeout_ms)
    }

    pub fn publish_timeout(&self) -> Duration {
        Duration::from_millis(self.publish_timeout_ms)
    }

    pub fn outbox_grace(&self) -> Duration {
        Duration::from_millis(self.outbox_grace_ms)
    }

    pub fn stats_settle(&self) -> Duration {
        Duration::from_millis(self.stats_settle_ms)
    }

    pub fn ai_deadline(&self) -> Duration {
        Duration::from_millis(self.ai_deadline_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    /// What keys the rate limit's HMAC: the configured API keys, which every
    /// replica shares and no client sees.
    pub fn rate_limit_secret(&self) -> String {
        self.auth_api_keys.iter().map(Secret::expose).collect::<Vec<_>>().join("\n")
    }
}

/// Names environment keys the way a person sets them (`PORT`, not `port`).
fn describe(e: config::ConfigError) -> String {
    let text = e.to_string();
    match text.rsplit_once(" for key `") {
        Some((what, key)) => {
            let key = key.split('`').next().unwrap_or(key).to_uppercase();
            format!("{key}: {what}")
        }
        None => text,
    }
}

fn empty_as_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: From<String>,
{
    let value = Option::<String>::deserialize(d)?;
    Ok(value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).map(T::from))
}

/// `K_CE_OVERRIDES`: `{"extensions": {"name": "value"}}`, names as the
/// CloudEvents spec allows them (lower-case letters and digits).
fn ce_overrides<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    struct Overrides {
        #[serde(default)]
        extensions: BTreeMap<String, serde_json::Value>,
    }
    let raw = Option::<String>::deserialize(d)?.unwrap_or_default();
    if raw.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let overrides: Overrides = serde_json::from_str(&raw)
        .map_err(|e| serde::de::Error::custom(format!("not {{\"extensions\": {{...}}}} JSON: {e}")))?;
    let mut extensions = BTreeMap::new();
    for (name, value) in overrides.extensions {
        let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid || crate::cloudevent::is_context_attribute(&name) {
            return Err(serde::de::Error::custom(format!("{name:?} cannot be an extension's name")));
        }
        let value = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!("extension {name}: {other} is not a string")));
            }
        };
        extensions.insert(name, value);
    }
    Ok(extensions)
}

fn comma_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Secret>, D::Error> {
    let raw = String::deserialize(d)?;
    Ok(raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Secret::new).collect())
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_complete() {
        let settings = Settings::with_overrides(&[]).unwrap();
        assert_eq!(settings.port, 8080);
        assert!(settings.auth_api_keys.is_empty());
        assert_eq!(settings.log_format, LogFormat::Json);
        assert_eq!(settings.body_limit, 64 * 1024);
    }

    #[test]
    fn a_bad_setting_is_one_line_naming_it() {
        let error = Settings::with_overrides(&[("port", "eighty")]).unwrap_err();
        assert!(error.starts_with("configuration: PORT: "), "{error}");
        assert!(!error.contains('\n'));
        let error = Settings::with_overrides(&[("log_format", "xml")]).unwrap_err();
        assert!(error.starts_with("configuration: LOG_FORMAT: "), "{error}");
    }

    #[test]
    fn ce_overrides_are_read_and_checked() {
        let settings =
            Settings::with_overrides(&[("k_ce_overrides", r#"{"extensions":{"cluster":"eu-1","shard":3}}"#)])
                .unwrap();
        assert_eq!(settings.k_ce_overrides.get("cluster").map(String::as_str), Some("eu-1"));
        assert_eq!(settings.k_ce_overrides.get("shard").map(String::as_str), Some("3"));
        for bad in [r#"{"extensions":{"Bad-Name":"x"}}"#, r#"{"extensions":{"id":"x"}}"#, "not json"] {
            let error = Settings::with_overrides(&[("k_ce_overrides", bad)]).unwrap_err();
            assert!(error.starts_with("configuration: K_CE_OVERRIDES: "), "{error}");
        }
    }

    #[test]
    fn keys_are_a_comma_list_and_never_printed() {
        let settings = Settings::with_overrides(&[("auth_api_keys", " a1, ,b2 ")]).unwrap();
        assert_eq!(settings.auth_api_keys, vec![Secret::new("a1"), Secret::new("b2")]);
        let debug = format!("{settings:?}");
        assert!(!debug.contains("a1") && !debug.contains("postgres:postgres"), "{debug}");
    }
}
