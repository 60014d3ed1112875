//! Who is calling, and whether they may: end users by bearer JWTs from an
//! OIDC issuer ([`users`]), machine clients by API keys bound to a role
//! ([`keys`]), the Broker and the PingSources by their sender tokens
//! ([`oidc`]). Each function declares its [`Access`]; the runtime applies it
//! before the handler runs ([`Authenticator::authorize`]).

pub mod jwks;
pub mod jwt;
pub mod keys;
pub mod oidc;
pub mod roles;
pub mod tokens;
pub mod users;

use http::HeaderMap;

pub use roles::{Access, Caller, Role, Roles};

use crate::config::Settings;
use crate::error::Error;

/// The credentials of `Authorization: Bearer <token>`, if that is the scheme
/// (matched without regard to case, RFC 7235).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Turns a request's credentials into a [`Caller`].
pub struct Authenticator {
    disabled: bool,
    keys: Vec<keys::ApiKey>,
    users: Option<users::UserTokens>,
}

impl Authenticator {
    /// The identities `access` needs: refuses to start a function that
    /// needs them without an issuer or keys, unless `AUTH_DISABLED=true`
    /// says so explicitly. One line, naming the setting.
    pub fn from_settings(settings: &Settings, access: Access, function: &str) -> Result<Self, String> {
        // The Broker's consumers take no clients' credentials: nothing to
        // parse, and no issuer's keys to fetch in the background.
        if access == Access::Broker {
            return Ok(Authenticator { disabled: false, keys: Vec::new(), users: None });
        }
        let keys = keys::parse(&settings.auth_api_keys)?;
        let users = users::UserTokens::from_settings(settings)?;
        if access.needs_identities() && keys.is_empty() && users.is_none() && !settings.auth_disabled {
            return Err(format!(
                "configuration: AUTH_ISSUER: {function} needs identities; set AUTH_ISSUER (end users) \
                 or AUTH_API_KEYS (machine clients), or AUTH_DISABLED=true to serve without authentication"
            ));
        }
        // Disabled means "no identities here": once keys or an issuer are
        // configured they are required, whatever AUTH_DISABLED says.
        let disabled = settings.auth_disabled && keys.is_empty() && users.is_none();
        Ok(Authenticator { disabled, keys, users })
    }

    /// Who the request's bearer credentials name: `None` without any; 401
    /// with credentials that do not hold. With auth disabled (and so no
    /// keys or issuer), [`Caller::unauthenticated`].
    pub async fn identify(&self, headers: &HeaderMap) -> Result<Option<Caller>, Error> {
        if self.disabled {
            return Ok(Some(Caller::unauthenticated()));
        }
        match bearer(headers) {
            None => Ok(None),
            Some(presented) => self.verify(presented).await.map(Some),
        }
    }

    async fn verify(&self, presented: &str) -> Result<Caller, Error> {
        // A JWT has three dot-separated parts; an API key is one opaque string.
        if let Some(users) = &self.users
            && presented.split('.').count() == 3
        {
            return users.verify(presented).await;
        }
        keys::find(&self.keys, presented).ok_or(Error::Unauthorized)
    }

    /// Applies `allowed` to `caller`: no identity is 401, one with none of
    /// the roles 403.
    pub fn authorize(caller: Option<&Caller>, allowed: &'static [Role]) -> Result<(), Error> {
        match caller {
            None => Err(Error::Unauthorized),
            Some(caller) if caller.is_any(allowed) => Ok(()),
            Some(_) => Err(Error::Forbidden {
                message: format!(
                    "only {} may call this",
                    allowed.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    }
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
    fn the_scheme_is_case_insensitive() {
        for value in ["bearer alpha", "BEARER alpha", "BeArEr  alpha "] {
            assert_eq!(bearer(&headers(value)), Some("alpha"), "{value}");
        }
        assert_eq!(bearer(&headers("Basic alpha")), None);
        assert_eq!(bearer(&headers("Bearer")), None);
    }

    #[tokio::test]
    async fn keys_name_their_role_and_anything_else_is_refused() {
        let settings = Settings::with_overrides(&[(
            "auth_api_keys",
            "agent:agent-key-0123456789abcdef,admin:admin-key-0123456789abcdef",
        )])
        .unwrap();
        let auth = Authenticator::from_settings(&settings, Access::SIGNED_IN, "f").unwrap();
        let agent = auth.identify(&headers("Bearer agent-key-0123456789abcdef")).await.unwrap().unwrap();
        assert!(agent.is(Role::Agent) && !agent.is(Role::Admin));
        assert_eq!(auth.identify(&HeaderMap::new()).await.unwrap(), None);
        assert!(matches!(auth.identify(&headers("Bearer nope")).await, Err(Error::Unauthorized)));
        assert!(matches!(auth.identify(&headers("Bearer a.b.c")).await, Err(Error::Unauthorized)));
        assert!(Authenticator::authorize(Some(&agent), &[Role::Agent, Role::Admin]).is_ok());
        assert!(matches!(
            Authenticator::authorize(Some(&agent), &[Role::Operator]),
            Err(Error::Forbidden { .. })
        ));
        assert!(matches!(Authenticator::authorize(None, &[Role::Operator]), Err(Error::Unauthorized)));
    }

    #[test]
    fn a_function_that_needs_identities_refuses_to_start_without_them_unless_told() {
        let open = Settings::with_overrides(&[]).unwrap();
        let error = Authenticator::from_settings(&open, Access::SIGNED_IN, "create-booking").err().unwrap();
        assert!(
            error.starts_with("configuration: AUTH_ISSUER: ") && error.contains("AUTH_DISABLED"),
            "{error}"
        );
        assert!(Authenticator::from_settings(&open, Access::Public, "list-flights").is_ok());
        let disabled = Settings::with_overrides(&[("auth_disabled", "true")]).unwrap();
        assert!(Authenticator::from_settings(&disabled, Access::SIGNED_IN, "x").is_ok());
    }
}
