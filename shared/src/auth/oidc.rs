//! Sender identity, as Knative's `authentication-oidc` has it: the Broker's
//! dispatcher (and a PingSource) sends each event with a service-account
//! JWT issued for the receiver's audience; the receiver checks it as
//! Knative's own verifier does (signed by a key of the issuer's JWKS, the
//! issuer, the audience, not expired) and that its subject is one allowed
//! to send. No token, or one that does not hold: 401; a valid token from
//! anyone else: 403. Neither is retried by the Broker.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderMap;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::Settings;
use crate::error::Error;

/// Where a pod finds the cluster's CA and its own token, to read the
/// issuer's discovery document and keys from the API server.
const POD_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
const POD_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// A token signed by a key not yet known refetches the keys, at most this often.
const REFETCH_EVERY: Duration = Duration::from_secs(30);
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

/// A function's verifier of sender tokens.
pub struct Verifier {
    issuer: String,
    audience: String,
    subjects: Vec<String>,
    jwks_url: Option<String>,
    http: reqwest::Client,
    keys: Mutex<Keys>,
}

#[derive(Default)]
struct Keys {
    by_id: HashMap<String, Arc<DecodingKey>>,
    fetched: Option<Instant>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

impl Verifier {
    /// The verifier `function` uses, if sender identity is on.
    pub fn from_settings(settings: &Settings, function: &str) -> Result<Option<Verifier>, String> {
        if !settings.oidc_enabled {
            return Ok(None);
        }
        if settings.oidc_allowed_subjects.is_empty() {
            return Err(
                "configuration: OIDC_ALLOWED_SUBJECTS: OIDC_ENABLED needs the subjects allowed to send"
                    .into(),
            );
        }
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(5));
        if let Ok(pem) = std::fs::read(POD_CA) {
            let ca = reqwest::Certificate::from_pem(&pem).map_err(|e| format!("oidc: {POD_CA}: {e}"))?;
            http = http.add_root_certificate(ca);
        }
        Ok(Some(Verifier {
            issuer: settings.oidc_issuer.clone(),
            audience: settings.oidc_audience.clone().unwrap_or_else(|| function.to_owned()),
            subjects: settings.oidc_allowed_subjects.iter().map(|s| s.expose().to_owned()).collect(),
            jwks_url: settings.oidc_jwks_url.clone(),
            http: http.build().map_err(|e| format!("oidc: {e}"))?,
            keys: Mutex::new(Keys::default()),
        }))
    }

    /// Accepts a request whose bearer token holds and names an allowed subject.
    pub async fn verify(&self, headers: &HeaderMap) -> Result<(), Error> {
        let invalid = |reason: &str| Error::InvalidToken { reason: reason.to_owned() };
        let token = super::bearer(headers).ok_or_else(|| invalid("no bearer token"))?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("not a JWT"))?;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::ES256 | Algorithm::ES384
        ) {
            return Err(invalid("not signed with an algorithm the issuer uses"));
        }
        let kid = header.kid.unwrap_or_default();
        let key = self.key(&kid).await?.ok_or_else(|| invalid("signed by a key the issuer does not have"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "expired",
                ErrorKind::InvalidAudience => "issued for another audience",
                ErrorKind::InvalidIssuer => "issued by another issuer",
                ErrorKind::InvalidSignature => "its signature does not hold",
                ErrorKind::ImmatureSignature => "not valid yet",
                ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
                _ => "it does not hold",
            })
        })?;
        let sub = claims.claims.sub;
        if self.subjects.iter().any(|allowed| glob(allowed, &sub)) {
            Ok(())
        } else {
            Err(Error::Forbidden { message: format!("{sub} may not send events here") })
        }
    }

    /// The issuer's key `kid`, fetching the keys when it is not known (at
    /// most every [`REFETCH_EVERY`]); a fetch that fails is a 503, retried.
    async fn key(&self, kid: &str) -> Result<Option<Arc<DecodingKey>>, Error> {
        let mut keys = self.keys.lock().await;
        if let Some(key) = keys.by_id.get(kid) {
            return Ok(Some(key.clone()));
        }
        if keys.fetched.is_some_and(|at| at.elapsed() < REFETCH_EVERY) {
            return Ok(None);
        }
        let set = self.fetch().await.map_err(|e| Error::unavailable("oidc_keys_unavailable", e))?;
        keys.fetched = Some(Instant::now());
        keys.by_id = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let id = jwk.common.key_id.clone().unwrap_or_default();
                DecodingKey::from_jwk(jwk).ok().map(|key| (id, Arc::new(key)))
            })
            .collect();
        Ok(keys.by_id.get(kid).cloned())
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        #[derive(Deserialize)]
        struct Discovery {
            jwks_uri: String,
        }
        let url = match &self.jwks_url {
            Some(url) => url.clone(),
            None => {
                let discovery =
                    format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'));
                let found: Discovery = self.get(&discovery).await?;
                found.jwks_uri
            }
        };
        self.get(&url).await
    }

    /// A GET with the pod's own token, as the API server asks of who reads its keys.
    async fn get<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let mut request = self.http.get(url);
        if let Ok(token) = std::fs::read_to_string(POD_TOKEN) {
            request = request.bearer_auth(token.trim());
        }
        let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        response.json().await.map_err(|e| format!("{url}: {e}"))
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else { return rest.is_empty() };
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn a_subject_pattern_matches_as_a_glob() {
        let trigger =
            "system:serviceaccount:skybook:booking-created-to-stats-oidc-eventing.knative.dev-trigger";
        assert!(glob(trigger, trigger));
        assert!(glob("system:serviceaccount:skybook:*-oidc-eventing.knative.dev-trigger", trigger));
        assert!(glob("system:serviceaccount:skybook:*", trigger));
        assert!(!glob("system:serviceaccount:other:*", trigger));
        assert!(!glob("system:serviceaccount:skybook:*-oidc-sources.knative.dev-pingsource", trigger));
        assert!(!glob("system:serviceaccount:skybook:skybook", "system:serviceaccount:skybook:skybook-x"));
        assert!(glob("a*b*c", "a-b-c") && !glob("a*b*c", "a-c-b") && !glob("ab*b", "ab"));
    }
}
