//! Who a caller is ([`Caller`]: a subject and its roles) and who may call a
//! function ([`Access`], declared once in its spec).

use std::fmt;

/// What a caller may do, by the job it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Books seats for themself and reads their own bookings.
    Passenger,
    /// Books for named passengers and reads every booking.
    Agent,
    /// Writes the catalogue (destinations, flights); reads every booking.
    Admin,
    /// Runs the system: dead letters, rebuilds, the candy log's names.
    Operator,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Passenger, Role::Agent, Role::Admin, Role::Operator];

    pub fn name(self) -> &'static str {
        match self {
            Role::Passenger => "passenger",
            Role::Agent => "agent",
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.name() == name)
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of roles.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Roles(u8);

impl Roles {
    pub const fn of(roles: &[Role]) -> Roles {
        let mut bits = 0;
        let mut i = 0;
        while i < roles.len() {
            bits |= roles[i].bit();
            i += 1;
        }
        Roles(bits)
    }

    pub fn all() -> Roles {
        Roles::of(&Role::ALL)
    }

    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    pub fn any_of(self, roles: &[Role]) -> bool {
        self.0 & Roles::of(roles).0 != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |role| self.contains(*role))
    }
}

impl fmt::Debug for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Role::name)).finish()
    }
}

/// Who is calling: the subject a token or API key names, and its roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub roles: Roles,
}

impl Caller {
    /// The caller a function sees when authentication is disabled
    /// explicitly (`AUTH_DISABLED=true`) and the request names nobody.
    pub fn unauthenticated() -> Caller {
        Caller { subject: "anonymous".to_owned(), roles: Roles::all() }
    }

    pub fn is(&self, role: Role) -> bool {
        self.roles.contains(role)
    }

    pub fn is_any(&self, roles: &[Role]) -> bool {
        self.roles.any_of(roles)
    }
}

/// Who may call a function: declared in its spec, enforced by the runtime
/// before the handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone. A caller who signs in is still known to the handler.
    Public,
    /// A signed-in caller with one of these roles: 401 with no identity,
    /// 403 with one that has none of them.
    Roles(&'static [Role]),
    /// Events from the Broker's Triggers and the PingSources only: their
    /// sender token when sender identity is on, the network otherwise.
    Broker,
    /// As [`Access::Broker`], and control events of `types`, sent directly
    /// (binary mode) by a signed-in caller with one of `roles`.
    BrokerAndControl { types: &'static [&'static str], roles: &'static [Role] },
}

impl Access {
    /// Every signed-in role.
    pub const SIGNED_IN: Access = Access::Roles(&Role::ALL);

    /// Whether this function needs identities to serve (so refuses to start
    /// without an issuer or keys unless auth is disabled explicitly).
    pub fn needs_identities(self) -> bool {
        matches!(self, Access::Roles(_) | Access::BrokerAndControl { .. })
    }

    /// Whether a function of this access is called by the Broker.
    pub fn is_broker(self) -> bool {
        matches!(self, Access::Broker | Access::BrokerAndControl { .. })
    }

    /// The roles that may call, for the catalogue and the docs: `None` for public.
    pub fn roles(self) -> Option<&'static [Role]> {
        match self {
            Access::Public | Access::Broker => None,
            Access::Roles(roles) | Access::BrokerAndControl { roles, .. } => Some(roles),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_sets_hold_what_they_were_made_of() {
        let staff = Roles::of(&[Role::Agent, Role::Admin]);
        assert!(staff.contains(Role::Agent) && staff.contains(Role::Admin));
        assert!(!staff.contains(Role::Passenger) && !staff.contains(Role::Operator));
        assert!(staff.any_of(&[Role::Operator, Role::Admin]));
        assert!(!staff.any_of(&[Role::Operator]));
        assert_eq!(format!("{staff:?}"), r#"{"agent", "admin"}"#);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.name()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
