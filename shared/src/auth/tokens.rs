//! An issuer's tokens, each checked once: a client sends the same token with
//! every request, and its signature (an ECDSA or RSA check, the costliest
//! step of a request that reads) need not be checked again until the token
//! expires or the key that signed it leaves the issuer's set.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonwebtoken::DecodingKey;
use serde_json::Value;

use super::jwks::Jwks;
use super::jwt::{self, Rules};
use crate::error::Error;

/// Tokens remembered at most: past that, the expired ones go, and if every
/// one is still valid, all of them (each is checked again when next seen).
const REMEMBERED: usize = 10_000;

/// One issuer's keys and rules, and the tokens they have vouched for.
pub struct Tokens {
    pub jwks: Arc<Jwks>,
    rules: Rules,
    seen: Mutex<HashMap<Box<str>, Seen>>,
}

/// A token that held.
struct Seen {
    claims: Arc<Value>,
    kid: String,
    key: Arc<DecodingKey>,
    /// Its `exp`, Unix seconds: past it, the token is checked again (and
    /// refused, but for the check's clock skew).
    expires: u64,
}

impl Tokens {
    pub fn new(jwks: Arc<Jwks>, rules: Rules) -> Self {
        Tokens { jwks, rules, seen: Mutex::default() }
    }

    /// The claims of `token`, if it holds.
    pub async fn claims(&self, token: &str) -> Result<Arc<Value>, Error> {
        if let Some(claims) = self.remembered(token) {
            return Ok(claims);
        }
        let checked = jwt::verify(&self.jwks, &self.rules, token).await?;
        let claims = Arc::new(checked.claims);
        // `verify` requires `exp`; a token without a number there is not kept.
        if let Some(expires) = claims.get("exp").and_then(Value::as_u64) {
            let seen = Seen { claims: claims.clone(), kid: checked.kid, key: checked.key, expires };
            let mut remembered = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if remembered.len() >= REMEMBERED {
                let now = jsonwebtoken::get_current_timestamp();
                remembered.retain(|_, seen| seen.expires > now);
                if remembered.len() >= REMEMBERED {
                    remembered.clear();
                }
            }
            remembered.insert(token.into(), seen);
        }
        Ok(claims)
    }

    /// The claims of a token already checked, while it has not expired and
    /// the issuer's set holds the very key that verified it (a refresh that
    /// drops or replaces the key ends it).
    fn remembered(&self, token: &str) -> Option<Arc<Value>> {
        let remembered = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let seen = remembered.get(token)?;
        let valid = seen.expires > jsonwebtoken::get_current_timestamp()
            && self.jwks.known(&seen.kid).is_some_and(|key| Arc::ptr_eq(&key, &seen.key));
        valid.then(|| seen.claims.clone())
    }
}
