//! A per-client request limit held in Redis, so it holds across replicas:
//! a fixed one-minute window per client, counted with one atomic script.

use std::net::IpAddr;
use std::sync::LazyLock;

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;

use crate::auth::Caller;
use crate::config::Settings;
use crate::error::Error;
use crate::redis::Redis;

const WINDOW_SECS: i64 = 60;

/// INCR, and start the window's clock on the first request of the window.
pub(crate) static REFUSED: crate::metrics::Counters = crate::metrics::counters(
    "rate_limited",
    "Requests refused with 429 by the per-client limit, by function",
);

static COUNT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "local n = redis.call('INCR', KEYS[1])
         if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
         return {n, redis.call('TTL', KEYS[1])}",
    )
});

/// Who is asking, as a client cannot choose it.
///
/// A signed-in caller: HMAC-SHA-256 of its subject, keyed by the process's
/// configured keys, so the name is the same on every replica and tells
/// whoever reads Redis nothing of who it is. Anyone else: its address, read
/// through the trusted proxies (`forwarded`); an IPv6 client by its /64.
pub fn client_of(settings: &Settings, caller: Option<&Caller>, headers: &HeaderMap, peer: IpAddr) -> String {
    if let Some(caller) = caller {
        let mut mac = Hmac::<Sha256>::new_from_slice(settings.rate_limit_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(caller.subject.as_bytes());
        let digest = mac.finalize().into_bytes();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        return format!("sub:{hex}");
    }
    match settings.trusted_proxies.client(headers, peer) {
        // One IPv6 client holds a /64 at least: counted per address, it
        // could take a new one for every request.
        IpAddr::V6(address) => match ipnet::Ipv6Net::new(address, 64) {
            Ok(network) => format!("ip:{}", network.trunc()),
            Err(_) => format!("ip:{address}"),
        },
        address => format!("ip:{address}"),
    }
}

/// Whether a function limits each caller, and what it does when Redis
/// cannot count: declared in its spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    Off,
    /// Limited; with Redis down the request goes through.
    FailOpen,
    /// Limited; with Redis down the request is a 503 (what the limit
    /// protects, the model's quota say, costs more than the refusal).
    FailClosed,
}

impl RateLimit {
    pub fn is_on(self) -> bool {
        self != RateLimit::Off
    }
}

/// Counts the request; refuses it with 429 past the limit, and, as `policy`
/// says, lets it through or refuses it with 503 when Redis cannot count.
pub async fn check(
    redis: &mut Redis,
    per_minute: u32,
    function: &str,
    client: &str,
    policy: RateLimit,
) -> Result<(), Error> {
    let limit = i64::from(per_minute);
    let key = format!("ratelimit:{function}:{client}");
    let counted: Result<(i64, i64), redis::RedisError> =
        COUNT.key(key).arg(WINDOW_SECS).invoke_async(redis).await;
    match counted {
        Ok((count, ttl)) if count > limit => {
            REFUSED.get_or_create(&crate::metrics::labels(&[("function", function)])).inc();
            Err(Error::RateLimited { retry_after_secs: ttl.max(1) as u64 })
        }
        Ok(_) => Ok(()),
        Err(e) if policy == RateLimit::FailClosed => Err(Error::unavailable(
            "rate_limit_unavailable",
            format!("the rate limit cannot be counted: {e}"),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "rate limit not checked: Redis unavailable");
            Ok(())
        }
    }
}

/// Failed authentications a client may make each minute; past that its
/// requests are 429 without a check, on this replica, until the minute ends.
pub const AUTH_FAILURES_PER_MINUTE: i64 = 20;

/// The clients refused for failing authentication too often, kept in the
/// process so the refusal costs no Redis call (the count is shared through
/// Redis, so every replica blocks them once one has seen enough).
#[derive(Default)]
pub struct AuthFailures {
    blocked: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// The most clients held blocked at once; past it the oldest are forgotten.
const MAX_BLOCKED: usize = 10_000;

impl AuthFailures {
    /// 429 when `client` is blocked.
    pub fn check(&self, client: &str) -> Result<(), Error> {
        let blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        match blocked.get(client).map(|until| until.saturating_duration_since(std::time::Instant::now())) {
            Some(left) if !left.is_zero() => {
                Err(Error::RateLimited { retry_after_secs: left.as_secs().max(1) })
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication of `client`; blocks it past the limit.
    pub async fn failed(&self, redis: &mut Redis, function: &str, client: &str) {
        let key = format!("authfail:{function}:{client}");
        let counted: Result<(i64, i64), redis::RedisError> =
            COUNT.key(key).arg(WINDOW_SECS).invoke_async(redis).await;
        let Ok((count, ttl)) = counted else { return };
        if count > AUTH_FAILURES_PER_MINUTE {
            let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
            let now = std::time::Instant::now();
            if blocked.len() >= MAX_BLOCKED {
                blocked.retain(|_, until| *until > now);
            }
            if blocked.len() < MAX_BLOCKED {
                blocked.insert(client.to_owned(), now + std::time::Duration::from_secs(ttl.max(1) as u64));
            }
        }
    }
}

/// Starts a rate-limited function's refusal count at zero, so it shows before the first 429.
pub(crate) fn count_refusals_of(function: &str) {
    let _ = REFUSED.get_or_create(&crate::metrics::labels(&[("function", function)]));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(overrides: &[(&str, &str)]) -> Settings {
        Settings::with_overrides(overrides).unwrap()
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 9));

    fn caller(subject: &str) -> Caller {
        Caller { subject: subject.into(), roles: crate::auth::Roles::of(&[crate::auth::Role::Passenger]) }
    }

    #[test]
    fn a_caller_is_named_by_a_keyed_stable_hash_of_its_subject() {
        let one = settings(&[("auth_api_keys", "agent:alpha-0123456789abcdef")]);
        let a = client_of(&one, Some(&caller("ana@example.org")), &HeaderMap::new(), PEER);
        assert_eq!(
            a,
            client_of(&one, Some(&caller("ana@example.org")), &forwarded("1.2.3.4"), PEER),
            "stable"
        );
        assert_ne!(a, client_of(&one, Some(&caller("bob@example.org")), &HeaderMap::new(), PEER));
        assert!(a.starts_with("sub:") && !a.contains("ana"));
        // Another deployment's keys give another name to the same subject.
        let other = settings(&[("auth_api_keys", "agent:gamma-0123456789abcdef")]);
        assert_ne!(a, client_of(&other, Some(&caller("ana@example.org")), &HeaderMap::new(), PEER));
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let s = settings(&[]);
        assert_eq!(client_of(&s, None, &forwarded("6.6.6.6"), PEER), "ip:10.0.0.9");
    }

    #[test]
    fn behind_trusted_proxies_the_address_they_saw_is_the_client() {
        let s = settings(&[("trusted_proxies", "10.0.0.0/8")]);
        // Whatever the client puts first, the proxies' entries decide.
        assert_eq!(client_of(&s, None, &forwarded("6.6.6.6, 203.0.113.5, 10.1.1.1"), PEER), "ip:203.0.113.5");
        assert_eq!(client_of(&s, None, &HeaderMap::new(), PEER), "ip:10.0.0.9");
        // Two addresses of one IPv6 /64 are one client.
        let a = client_of(&s, None, &forwarded("2001:db8:1:2::1"), PEER);
        assert_eq!(a, client_of(&s, None, &forwarded("2001:db8:1:2:ffff::9"), PEER));
        assert_eq!(a, "ip:2001:db8:1:2::/64");
        assert_ne!(a, client_of(&s, None, &forwarded("2001:db8:1:3::1"), PEER));
    }
}
