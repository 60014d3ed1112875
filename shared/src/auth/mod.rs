//! Who may call: clients by bearer API keys, read from `Authorization` (the
//! scheme matched without regard to case, RFC 7235) and compared in constant
//! time; the Broker and the PingSources by their sender tokens ([`oidc`]).

pub mod oidc;

use http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::error::Error;

/// The credentials of `Authorization: Bearer <token>`, if that is the scheme.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Accepts the request when no keys are configured (the function started
/// only because auth was disabled explicitly), or when its bearer token
/// matches one of them; returns the verified token.
pub fn check<'h>(keys: &[Secret], headers: &'h HeaderMap) -> Result<Option<&'h str>, Error> {
    if keys.is_empty() {
        return Ok(None);
    }
    let presented = bearer(headers).ok_or(Error::Unauthorized)?;
    // Compare against every key without stopping early, so timing does not
    // tell which key (or how much of one) matched.
    let matched = keys
        .iter()
        .fold(subtle::Choice::from(0), |acc, key| acc | key.expose().as_bytes().ct_eq(presented.as_bytes()));
    if bool::from(matched) { Ok(Some(presented)) } else { Err(Error::Unauthorized) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn no_keys_means_open() {
        assert_eq!(check(&[], &HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn accepts_any_configured_key_and_refuses_others() {
        let keys = [Secret::new("alpha"), Secret::new("beta")];
        assert_eq!(check(&keys, &headers("Bearer beta")).unwrap(), Some("beta"));
        assert_eq!(check(&keys, &headers("Bearer alpha")).unwrap(), Some("alpha"));
        assert!(matches!(check(&keys, &headers("Bearer alph")), Err(Error::Unauthorized)));
        assert!(matches!(check(&keys, &headers("Basic alpha")), Err(Error::Unauthorized)));
        assert!(matches!(check(&keys, &headers("Bearer")), Err(Error::Unauthorized)));
        assert!(matches!(check(&keys, &HeaderMap::new()), Err(Error::Unauthorized)));
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        let keys = [Secret::new("alpha")];
        for value in ["bearer alpha", "BEARER alpha", "BeArEr  alpha "] {
            assert_eq!(check(&keys, &headers(value)).unwrap(), Some("alpha"), "{value}");
        }
    }
}
