//! Bearer API keys, compared in constant time.

use http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::error::Error;

/// Accepts the request when no keys are configured, or when its
/// `Authorization: Bearer <key>` matches one of them.
pub fn check(keys: &[Secret], headers: &HeaderMap) -> Result<(), Error> {
    if keys.is_empty() {
        return Ok(());
    }
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(Error::Unauthorized)?;
    // Compare against every key without stopping early, so timing does not
    // tell which key (or how much of one) matched.
    let matched = keys
        .iter()
        .fold(subtle::Choice::from(0), |acc, key| acc | key.expose().as_bytes().ct_eq(presented.as_bytes()));
    if bool::from(matched) { Ok(()) } else { Err(Error::Unauthorized) }
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
        assert!(check(&[], &HeaderMap::new()).is_ok());
    }

    #[test]
    fn accepts_any_configured_key_and_refuses_others() {
        let keys = [Secret::new("alpha"), Secret::new("beta")];
        assert!(check(&keys, &headers("Bearer beta")).is_ok());
        assert!(check(&keys, &headers("Bearer alpha")).is_ok());
        assert!(matches!(check(&keys, &headers("Bearer alph")), Err(Error::Unauthorized)));
        assert!(matches!(check(&keys, &headers("Basic alpha")), Err(Error::Unauthorized)));
        assert!(matches!(check(&keys, &HeaderMap::new()), Err(Error::Unauthorized)));
    }
}
