//! The runtime's settings, read once at start. Each slice declares the
//! settings only its functions read in a section of its own (the AI's model,
//! the relay's batch), which the runtime reads beside these for the
//! functions that name it ([`Function::with_settings`](crate::Function::with_settings)).

use std::time::Duration;

use serde::Deserialize;

pub mod de;
mod section;

pub use de::Secret;
pub use section::{Section, Source};

crate::settings! {
    /// Every setting the runtime reads, for every function. Environment
    /// variables use the same names upper-cased (`PORT`, `DATABASE_URL`, ...).
    pub struct Settings {
        port: u16 = "8080",
        database_url: Secret = "postgres://postgres:postgres@127.0.0.1:5432/skybook",
        /// PostgreSQL itself, for the migrations, when DATABASE_URL goes
        /// through a transaction-mode pooler.
        #[serde(deserialize_with = "de::empty_as_none")]
        migration_database_url: Option<Secret> = "",
        db_pool_size: u32 = "5",
        /// How long a request waits for a database connection before answering 503.
        db_acquire_timeout_ms: u64 = "5000",
        /// How the database is reached: `session` (PostgreSQL itself, or a
        /// session pooler), `transaction` (a transaction-mode pooler that
        /// keeps prepared statements: PgBouncer 1.21 and later with
        /// `max_prepared_statements`), or `transaction-unnamed` (an older
        /// transaction-mode pooler: every statement unnamed). Behind a
        /// pooler every write runs in a transaction; a read does only
        /// behind an older one.
        db_pool_mode: PoolMode = "session",
        /// PostgreSQL's `statement_timeout` for every connection: no query, or
        /// wait for a lock, holds a connection longer.
        db_statement_timeout_ms: u64 = "10000",
        redis_url: Secret = "redis://127.0.0.1:6379",
        /// Where events go (a Knative Broker); injected by a SinkBinding.
        #[serde(deserialize_with = "de::empty_as_none")]
        k_sink: Option<String> = "",
        /// Extensions the platform asks every emitted event to carry (a
        /// SinkBinding's `ceOverrides`, as JSON `{"extensions": {...}}`).
        #[serde(deserialize_with = "de::ce_overrides")]
        k_ce_overrides: std::collections::BTreeMap<String, String> = "",
        /// The CA certificates (PEM) to trust for a TLS sink.
        #[serde(deserialize_with = "de::empty_as_none")]
        k_ca_certs: Option<String> = "",
        /// Timeout of one publish to `K_SINK`.
        publish_timeout_ms: u64 = "2000",
        /// Machine clients' bearer keys, each `role:secret` (`auth::keys`).
        #[serde(deserialize_with = "de::comma_list")]
        auth_api_keys: Vec<Secret> = "",
        /// The OIDC issuer of end users' bearer JWTs (`auth::users`); unset: no end users.
        #[serde(deserialize_with = "de::empty_as_none")]
        auth_issuer: Option<String> = "",
        /// The audience end users' tokens must name.
        auth_audience: String = "skybook",
        /// Where the issuer's keys are; unset: from its discovery document.
        #[serde(deserialize_with = "de::empty_as_none")]
        auth_jwks_url: Option<String> = "",
        /// The claim holding a user's roles, a dotted path (`realm_access.roles`).
        auth_roles_claim: String = "roles",
        /// The JWS algorithms end users' tokens may be signed with.
        auth_algorithms: String = "RS256,ES256",
        /// Lets a function that needs identities run without an issuer or keys;
        /// it must be said explicitly (tests do), never implied by an empty list.
        auth_disabled: bool = "false",
        /// Sender identity (Knative's `authentication-oidc`): the functions the
        /// Broker and the PingSources call accept only events with a valid token
        /// from an allowed subject (`auth::oidc`).
        oidc_enabled: bool = "false",
        /// Who issues the tokens: the cluster's service-account issuer.
        oidc_issuer: String = "https://kubernetes.default.svc.cluster.local",
        /// Where the issuer's keys are; unset: from its discovery document.
        #[serde(deserialize_with = "de::empty_as_none")]
        oidc_jwks_url: Option<String> = "",
        /// The audience a token must name; unset: the function's name.
        #[serde(deserialize_with = "de::empty_as_none")]
        oidc_audience: Option<String> = "",
        /// Who may send (token subjects, comma-separated; `*` matches any run of characters).
        #[serde(deserialize_with = "de::comma_list")]
        oidc_allowed_subjects: Vec<Secret> = "",
        /// The keys events are signed with (`cloudevent::signature`),
        /// comma-separated: the first signs what this function emits, each
        /// verifies what it consumes.
        #[serde(deserialize_with = "de::comma_list")]
        event_signing_keys: Vec<Secret> = "",
        /// The networks of the proxies in front of the function (the ingress,
        /// the activator, the queue-proxy) whose `X-Forwarded-For` entries are
        /// believed (`forwarded`); empty: the peer's address is the client's.
        trusted_proxies: crate::forwarded::TrustedProxies = "",
        /// The origins (`https://app.example.com`, comma-separated) whose
        /// pages may call the queries and commands from a browser (CORS);
        /// none when empty.
        #[serde(deserialize_with = "de::origins")]
        cors_allowed_origins: Vec<String> = "",
        /// Requests a client may make each minute to a rate-limited function.
        rate_limit_per_minute: u32 = "30",
        rust_log: String = "info",
        log_format: LogFormat = "json",
        /// Largest request body accepted, in bytes.
        body_limit: usize = "65536",
        /// How long a client may take to send a request's body (408 after).
        body_timeout_ms: u64 = "10000",
        /// How long SIGTERM waits for in-flight requests.
        shutdown_grace_ms: u64 = "25000",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PoolMode {
    Session,
    Transaction,
    TransactionUnnamed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

impl Settings {
    /// Reads the settings of this process. The error is one line naming the
    /// setting at fault, ready to print before exiting.
    pub fn load() -> Result<Self, String> {
        Source::process().load()
    }

    /// The defaults with some values replaced, ignoring the environment:
    /// for tests, which must not depend on the shell they run in.
    pub fn with_overrides(overrides: &[(&str, &str)]) -> Result<Self, String> {
        Source::overrides(overrides).load()
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

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    /// What keys the rate limit's HMAC: the configured API keys, which every
    /// replica shares and no client sees.
    pub fn rate_limit_secret(&self) -> String {
        self.auth_api_keys.iter().map(Secret::expose).collect::<Vec<_>>().join("\n")
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
    fn cors_origins_are_origins_as_a_browser_sends_them() {
        let settings = Settings::with_overrides(&[(
            "cors_allowed_origins",
            "https://App.example.com, http://localhost:5173/,",
        )])
        .unwrap();
        assert_eq!(settings.cors_allowed_origins, ["https://app.example.com", "http://localhost:5173"]);
        assert!(Settings::with_overrides(&[]).unwrap().cors_allowed_origins.is_empty());
        for bad in
            ["*", "app.example.com", "https://app.example.com/path", "ftp://x.org", "https://x.org?a=1"]
        {
            let error = Settings::with_overrides(&[("cors_allowed_origins", bad)]).unwrap_err();
            assert!(error.starts_with("configuration: CORS_ALLOWED_ORIGINS: "), "{bad}: {error}");
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
