//! Who is acting: whose data they may touch, whence they came, and who answers for them.

/// Whose data a caller may see: everything (an administrator) or one tenant's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Tenant(String),
}

impl Scope {
    pub fn allows(&self, tenant_id: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Tenant(own) => own == tenant_id,
        }
    }
}

/// Who acted and whence: taken from the authenticated request (or the system itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The credential: an API key id, `oidc:<issuer>#<sub>`, `cert:<serial>`; `anonymous`
    /// when authentication failed; `system` for the service's own work.
    pub actor_id: String,
    /// Who the credential names (key name, token subject, certificate CN).
    pub subject: String,
    pub request_id: String,
    pub source_ip: Option<String>,
}

impl Origin {
    /// The service acting on its own (startup, CLI maintenance).
    pub fn system(request_id: impl Into<String>) -> Self {
        Self {
            actor_id: "system".to_string(),
            subject: "system".to_string(),
            request_id: request_id.into(),
            source_ip: None,
        }
    }
}

/// The caller of a mutating operation. The operation appends its audit record in its own
/// transaction (`audit::AuditAction`), so the two commit together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub scope: Scope,
    pub origin: Origin,
    /// Who answers for the credential, for rules that need two different people: an OIDC
    /// subject of a configured issuer, a client certificate's subject, or an API key's
    /// owner (a key minted over the API answers to its minter). [`OUT_OF_BAND`] for the
    /// service itself and an operator on the machine.
    pub identity: String,
}

/// The identity of work done on the machine itself (start-up, the CLI): keys it creates
/// are identities of their own, since no API caller could have minted them.
pub const OUT_OF_BAND: &str = "out-of-band";

impl Actor {
    /// The service itself, or an operator's CLI run against the store: every tenant.
    pub fn system(request_id: impl Into<String>) -> Self {
        Self {
            scope: Scope::All,
            origin: Origin::system(request_id),
            identity: OUT_OF_BAND.to_string(),
        }
    }

    /// Whether this is the machine itself rather than an API caller.
    pub fn is_out_of_band(&self) -> bool {
        self.identity == OUT_OF_BAND
    }

    /// Whether this caller is a second person to `proposer`, for the changes that need
    /// two: another credential, another subject and another identity (a key the proposer
    /// minted or rotated answers to the proposer). An identity that cannot tell one person
    /// from two (none recorded, `legacy:`, the machine itself) is not a second person.
    pub fn is_second_to(&self, proposer: &Proposer<'_>) -> bool {
        proposer.credential != self.origin.actor_id
            && proposer.subject != self.origin.subject
            && proposer.identity != self.identity
            && !proposer.identity.is_empty()
            && !self.identity.starts_with("legacy:")
            && !self.is_out_of_band()
    }
}

/// Who proposed a change that a second person must approve, as recorded at the proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposer<'a> {
    pub credential: &'a str,
    pub subject: &'a str,
    pub identity: &'a str,
}
