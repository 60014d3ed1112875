//! Checking a JWT against an issuer's keys: the algorithm on an allow-list
//! of asymmetric ones, the signature, `iss`, `aud`, `exp` and `nbf` (with a
//! small clock skew). What is refused says why, never more.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::jwks::Jwks;
use crate::error::Error;

/// Clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

/// What a token must hold to be accepted.
pub struct Rules {
    pub issuer: String,
    pub audience: String,
    pub algorithms: Vec<Algorithm>,
}

/// Reads an allow-list such as `RS256,ES256`: asymmetric algorithms only,
/// since a key anyone can read must not be able to sign.
pub fn algorithms(list: &str) -> Result<Vec<Algorithm>, String> {
    let mut algorithms = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let algorithm: Algorithm = name.parse().map_err(|_| format!("{name} is not a JWS algorithm"))?;
        if matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 | Algorithm::EdDSA) {
            return Err(format!("{name} is not allowed: RS*, PS*, ES256 or ES384"));
        }
        algorithms.push(algorithm);
    }
    if algorithms.is_empty() {
        return Err("names no algorithm".into());
    }
    Ok(algorithms)
}

fn invalid(reason: &str) -> Error {
    Error::InvalidToken { reason: reason.to_owned() }
}

/// A token that holds, and what vouched for it.
pub struct Checked {
    pub claims: Value,
    /// The key that verified it, by its id: the token holds while the
    /// issuer's set still holds this very key.
    pub kid: String,
    pub key: Arc<DecodingKey>,
}

/// The claims of `token`, if it holds by `rules` and a key of `jwks`.
pub async fn verify(jwks: &Jwks, rules: &Rules, token: &str) -> Result<Checked, Error> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("not a JWT"))?;
    if !rules.algorithms.contains(&header.alg) {
        return Err(invalid("not signed with an algorithm allowed here"));
    }
    let kid = header.kid.unwrap_or_default();
    let key = jwks.key(&kid).await?.ok_or_else(|| invalid("signed by a key the issuer does not have"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&rules.issuer]);
    validation.set_audience(&[&rules.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECS;
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        invalid(match e.kind() {
            ErrorKind::ExpiredSignature => "expired",
            ErrorKind::InvalidAudience => "issued for another audience",
            ErrorKind::InvalidIssuer => "issued by another issuer",
            ErrorKind::InvalidSignature => "its signature does not hold",
            ErrorKind::ImmatureSignature => "not valid yet",
            ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
            ErrorKind::InvalidAlgorithm => "signed with an algorithm its key is not for",
            _ => "it does not hold",
        })
    })?;
    Ok(Checked { claims: data.claims, kid, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_asymmetric_algorithms_are_allowed() {
        assert_eq!(algorithms("RS256, ES256").unwrap(), vec![Algorithm::RS256, Algorithm::ES256]);
        assert!(algorithms("HS256").unwrap_err().contains("not allowed"));
        assert!(algorithms("none").is_err());
        assert!(algorithms("").is_err());
    }
}
