//! Sender identity, as Knative's `authentication-oidc` has it: the Broker's
//! dispatcher (and a PingSource) sends each event with a service-account
//! JWT issued for the receiver's audience; the receiver checks it as
//! Knative's own verifier does (signed by a key of the issuer's JWKS, the
//! issuer, the audience, not expired) and that its subject is one allowed
//! to send. No token, or one that does not hold: 401; a valid token from
//! anyone else: 403. Neither is retried by the Broker.

use std::time::Duration;

use http::HeaderMap;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::jwks::{Jwks, REFRESH_EVERY, Source};
use super::jwt::Rules;
use super::tokens::Tokens;
use crate::config::Settings;
use crate::error::Error;

/// Where a pod finds the cluster's CA and its own token, to read the
/// issuer's discovery document and keys from the API server.
const POD_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
const POD_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// A function's verifier of sender tokens.
pub struct Verifier {
    tokens: Tokens,
    subjects: Vec<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

/// The pod's own service-account token, read anew each time (the kubelet rotates it).
fn pod_token() -> Option<String> {
    std::fs::read_to_string(POD_TOKEN).ok().map(|t| t.trim().to_owned())
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
        let source = Source {
            issuer: settings.oidc_issuer.clone(),
            jwks_url: settings.oidc_jwks_url.clone(),
            credential: Some(pod_token),
        };
        let jwks = Jwks::new(source, http.build().map_err(|e| format!("oidc: {e}"))?);
        jwks.refresh_in_background(REFRESH_EVERY);
        Ok(Some(Verifier {
            tokens: Tokens::new(
                jwks,
                Rules {
                    issuer: settings.oidc_issuer.clone(),
                    audience: settings.oidc_audience.clone().unwrap_or_else(|| function.to_owned()),
                    // What Kubernetes' service-account issuer signs with.
                    algorithms: vec![
                        Algorithm::RS256,
                        Algorithm::RS384,
                        Algorithm::RS512,
                        Algorithm::ES256,
                        Algorithm::ES384,
                    ],
                },
            ),
            subjects: settings.oidc_allowed_subjects.iter().map(|s| s.expose().to_owned()).collect(),
        }))
    }

    /// Accepts a request whose bearer token holds and names an allowed subject.
    pub async fn verify(&self, headers: &HeaderMap) -> Result<(), Error> {
        let token =
            super::bearer(headers).ok_or_else(|| Error::InvalidToken { reason: "no bearer token".into() })?;
        let claims = self.tokens.claims(token).await?;
        let sub = Claims::deserialize(&*claims)
            .map_err(|_| Error::InvalidToken { reason: "it names no subject".into() })?
            .sub;
        if self.subjects.iter().any(|allowed| glob(allowed, &sub)) {
            Ok(())
        } else {
            Err(Error::Forbidden { message: format!("{sub} may not send events here") })
        }
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
