//! An issuer's signing keys, cached so that no request waits on the issuer
//! unless it must: known keys are read without a lock held across any
//! fetch; a token signed by an unknown `kid` triggers at most one fetch in
//! flight, and at most one every [`REFETCH_EVERY`] (a flood of random `kid`s
//! costs the issuer one request); the whole set is refreshed on a schedule,
//! so a key the issuer drops is dropped here too.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use serde::Deserialize;

use crate::error::Error;

/// A token signed by a key not yet known refetches the keys, at most this often.
pub const REFETCH_EVERY: Duration = Duration::from_secs(30);
/// The whole set is read again this often, so rotations and removals show.
pub const REFRESH_EVERY: Duration = Duration::from_secs(300);
/// One fetch (discovery, then keys) takes at most this long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the keys are, and how to ask for them.
pub struct Source {
    /// The issuer, whose discovery document names `jwks_uri`.
    pub issuer: String,
    /// The keys' URL, when set instead of discovery.
    pub jwks_url: Option<String>,
    /// A bearer token to present, to the issuer's own host only (a pod's
    /// service-account token, which the API server asks of who reads its keys).
    pub credential: Option<fn() -> Option<String>>,
}

/// One issuer's keys.
pub struct Jwks {
    source: Source,
    http: reqwest::Client,
    /// The current keys: swapped whole, read without waiting.
    keys: RwLock<Arc<HashMap<String, Arc<DecodingKey>>>>,
    /// Held only by requests whose key is unknown, across the one fetch.
    refetch: tokio::sync::Mutex<Option<Attempt>>,
}

/// The last fetch an unknown key caused.
struct Attempt {
    at: Instant,
    failed: Option<String>,
}

impl Jwks {
    pub fn new(source: Source, http: reqwest::Client) -> Arc<Jwks> {
        Arc::new(Jwks { source, http, keys: Default::default(), refetch: Default::default() })
    }

    /// Fetches the keys now and every [`REFRESH_EVERY`], in the background,
    /// for as long as the cache lives. Never holds up start-up.
    pub fn refresh_in_background(self: &Arc<Self>, every: Duration) {
        let weak: Weak<Jwks> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(jwks) = weak.upgrade() else { return };
                // Under the unknown-key lock: a request for a key not yet
                // held waits for this read instead of making its own.
                let refetch = jwks.refetch.lock().await;
                let refreshed = jwks.refresh().await;
                drop(refetch);
                if let Err(e) = refreshed {
                    // Keep the keys held: an issuer that is down for a while
                    // must not turn every valid token away.
                    tracing::warn!(issuer = %jwks.source.issuer, error = %e, "refreshing the issuer's keys");
                }
                drop(jwks);
                tokio::time::sleep(every).await;
            }
        });
    }

    /// The key `kid`. Known: at once. Unknown: after the one fetch in flight,
    /// or `None` at once when the keys were fetched for an unknown key less
    /// than [`REFETCH_EVERY`] ago. A failed fetch with no keys held is a 503.
    pub async fn key(&self, kid: &str) -> Result<Option<Arc<DecodingKey>>, Error> {
        if let Some(key) = self.known(kid) {
            return Ok(Some(key));
        }
        let mut last = self.refetch.lock().await;
        // Whoever held the lock before may have fetched it.
        if let Some(key) = self.known(kid) {
            return Ok(Some(key));
        }
        if let Some(attempt) = last.as_ref().filter(|a| a.at.elapsed() < REFETCH_EVERY) {
            return match &attempt.failed {
                Some(e) if self.is_empty() => Err(Error::unavailable("identity_keys_unavailable", e)),
                _ => Ok(None),
            };
        }
        let fetched = self.refresh().await;
        *last = Some(Attempt { at: Instant::now(), failed: fetched.as_ref().err().cloned() });
        match fetched {
            Ok(()) => Ok(self.known(kid)),
            Err(e) if self.is_empty() => Err(Error::unavailable("identity_keys_unavailable", e)),
            Err(e) => {
                tracing::warn!(issuer = %self.source.issuer, error = %e, "refetching the issuer's keys");
                Ok(None)
            }
        }
    }

    pub(super) fn known(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).get(kid).cloned()
    }

    fn is_empty(&self) -> bool {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    /// Reads the issuer's keys and replaces the held set with them.
    pub async fn refresh(&self) -> Result<(), String> {
        let set = tokio::time::timeout(FETCH_TIMEOUT, self.fetch())
            .await
            .map_err(|_| format!("{}: no answer within {FETCH_TIMEOUT:?}", self.source.issuer))??;
        let keys: HashMap<String, Arc<DecodingKey>> = set
            .keys
            .iter()
            // Only public keys: a symmetric key published in a JWKS is
            // known to everyone, and anything signed with it proves nothing.
            .filter(|jwk| {
                matches!(jwk.algorithm, AlgorithmParameters::RSA(_) | AlgorithmParameters::EllipticCurve(_))
            })
            .filter_map(|jwk| {
                let id = jwk.common.key_id.clone().unwrap_or_default();
                DecodingKey::from_jwk(jwk).ok().map(|key| (id, Arc::new(key)))
            })
            .collect();
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
        Ok(())
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        #[derive(Deserialize)]
        struct Discovery {
            jwks_uri: String,
        }
        let url = match &self.source.jwks_url {
            Some(url) => url.clone(),
            None => {
                let discovery =
                    format!("{}/.well-known/openid-configuration", self.source.issuer.trim_end_matches('/'));
                self.get::<Discovery>(&discovery).await?.jwks_uri
            }
        };
        self.get(&url).await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let mut request = self.http.get(url);
        if same_host(url, &self.source.issuer)
            && let Some(token) = self.source.credential.and_then(|read| read())
        {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        response.json().await.map_err(|e| format!("{url}: {e}"))
    }
}

/// Whether `url` is on the issuer's own scheme, host and port: the only
/// place a credential goes, whatever a discovery document names.
fn same_host(url: &str, issuer: &str) -> bool {
    match (url::Url::parse(url), url::Url::parse(issuer)) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host() == b.host()
                && a.port_or_known_default() == b.port_or_known_default()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::same_host;

    #[test]
    fn a_credential_goes_to_the_issuers_host_only() {
        let issuer = "https://kubernetes.default.svc.cluster.local";
        assert!(same_host("https://kubernetes.default.svc.cluster.local/openid/v1/jwks", issuer));
        assert!(same_host("https://kubernetes.default.svc.cluster.local:443/keys", issuer));
        assert!(!same_host("https://attacker.example/keys", issuer));
        assert!(!same_host("http://kubernetes.default.svc.cluster.local/keys", issuer));
        assert!(!same_host("https://kubernetes.default.svc.cluster.local.attacker.example/k", issuer));
        assert!(!same_host("not a url", issuer));
    }
}
