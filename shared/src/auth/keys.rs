//! Machine clients' API keys, each bound to a role: `AUTH_API_KEYS` is a
//! comma-separated list of `role:secret`. A key is compared in constant time
//! against every configured one, and names its holder by a digest of the
//! secret (`key:<role>:<12 hex>`), so logs, bookings and rate limits can tell
//! two keys apart without ever holding one.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::roles::{Caller, Role, Roles};
use crate::config::Secret;

/// A configured key: its role and the subject it stands for.
pub struct ApiKey {
    secret: Secret,
    caller: Caller,
}

/// Reads `AUTH_API_KEYS`; one line naming the setting when an entry is not `role:secret`.
pub fn parse(entries: &[Secret]) -> Result<Vec<ApiKey>, String> {
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let bad = |why: &str| format!("configuration: AUTH_API_KEYS: entry {}: {why}", i + 1);
            let (role, secret) =
                entry.expose().split_once(':').ok_or_else(|| bad("not role:secret (e.g. agent:…)"))?;
            let role = Role::parse(role.trim())
                .ok_or_else(|| bad("the role is not one of passenger, agent, admin, operator"))?;
            let secret = secret.trim();
            if secret.len() < 16 {
                return Err(bad("the secret is shorter than 16 characters"));
            }
            let digest = Sha256::digest(secret.as_bytes());
            let fingerprint: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
            let subject = format!("key:{role}:{fingerprint}");
            Ok(ApiKey { secret: Secret::new(secret), caller: Caller { subject, roles: Roles::of(&[role]) } })
        })
        .collect()
}

/// The caller a presented key stands for, if it is one of `keys`.
pub fn find(keys: &[ApiKey], presented: &str) -> Option<Caller> {
    // Every key is compared, without stopping early, so timing does not
    // tell which key (or how much of one) matched.
    let mut found = None;
    for key in keys {
        if bool::from(key.secret.expose().as_bytes().ct_eq(presented.as_bytes())) {
            found = Some(&key.caller);
        }
    }
    found.cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &str) -> Result<Vec<ApiKey>, String> {
        parse(&list.split(',').map(Secret::new).collect::<Vec<_>>())
    }

    #[test]
    fn each_key_is_bound_to_its_role() {
        let keys = keys("agent:agent-secret-0123456789,operator:ops-secret-0123456789").unwrap();
        let agent = find(&keys, "agent-secret-0123456789").unwrap();
        assert!(agent.is(Role::Agent) && !agent.is(Role::Operator));
        assert!(agent.subject.starts_with("key:agent:") && !agent.subject.contains("secret"));
        assert!(find(&keys, "ops-secret-0123456789").unwrap().is(Role::Operator));
        assert!(find(&keys, "ops-secret-012345678").is_none());
        assert!(find(&keys, "").is_none());
    }

    #[test]
    fn a_malformed_entry_is_one_line_naming_the_setting() {
        for bad in ["no-role-here-0123456789", "root:secret-0123456789", "agent:short"] {
            let error = keys(bad).err().unwrap();
            assert!(error.starts_with("configuration: AUTH_API_KEYS: entry 1: "), "{error}");
            assert!(!error.contains("0123456789"), "the secret is never printed: {error}");
        }
    }
}
