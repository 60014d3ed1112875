//! End users' bearer JWTs from an OIDC issuer (`AUTH_ISSUER`): checked by
//! [`super::jwt`], the subject from `sub`, the roles from a configurable
//! claim (`AUTH_ROLES_CLAIM`, a dotted path such as Keycloak's
//! `realm_access.roles`; an array of names or one space-separated string).
//! Role names the system does not know are ignored.

use serde_json::Value;

use super::jwks::{Jwks, REFRESH_EVERY, Source};
use super::jwt::{self, Rules};
use super::roles::{Caller, Role, Roles};
use super::tokens::Tokens;
use crate::config::Settings;
use crate::error::Error;

/// The longest subject kept: it becomes a booking's owner and a rate-limit bucket.
pub const MAX_SUBJECT: usize = 255;

pub struct UserTokens {
    tokens: Tokens,
    roles_claim: Vec<String>,
}

impl UserTokens {
    /// The verifier of end users' tokens, if an issuer is configured.
    pub fn from_settings(settings: &Settings) -> Result<Option<UserTokens>, String> {
        let Some(issuer) = settings.auth_issuer.clone() else { return Ok(None) };
        // Built only where an issuer is configured: start-up stays cheap elsewhere.
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let algorithms = jwt::algorithms(&settings.auth_algorithms)
            .map_err(|e| format!("configuration: AUTH_ALGORITHMS: {e}"))?;
        let source =
            Source { issuer: issuer.clone(), jwks_url: settings.auth_jwks_url.clone(), credential: None };
        let jwks = Jwks::new(source, http);
        jwks.refresh_in_background(REFRESH_EVERY);
        Ok(Some(UserTokens {
            tokens: Tokens::new(jwks, Rules { issuer, audience: settings.auth_audience.clone(), algorithms }),
            roles_claim: settings.auth_roles_claim.split('.').map(str::to_owned).collect(),
        }))
    }

    /// The caller `token` names, if it holds.
    pub async fn verify(&self, token: &str) -> Result<Caller, Error> {
        let claims = self.tokens.claims(token).await?;
        let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
        if subject.is_empty() || subject.len() > MAX_SUBJECT {
            return Err(Error::InvalidToken {
                reason: format!("its subject is empty or over {MAX_SUBJECT} bytes"),
            });
        }
        let mut claim = Some(&*claims);
        for step in &self.roles_claim {
            claim = claim.and_then(|c| c.get(step));
        }
        let names: Vec<&str> = match claim {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(text)) => text.split_whitespace().collect(),
            _ => Vec::new(),
        };
        let roles: Vec<Role> = names.into_iter().filter_map(Role::parse).collect();
        Ok(Caller { subject: subject.to_owned(), roles: Roles::of(&roles) })
    }
}
