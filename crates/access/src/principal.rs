//! An authenticated caller: which credential, whose tenant, which scopes.

use kernel::Scope;
use strum::VariantArray;

use crate::roles::{ApiScope, Role};

/// A set of scopes as a bit set (checked on every request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScopeSet(u32);

impl ScopeSet {
    pub fn of(roles: &[Role], scopes: &[ApiScope]) -> Self {
        let mut set = Self::default();
        for scope in roles.iter().flat_map(|r| r.scopes()).chain(scopes) {
            set.0 |= 1 << (*scope as u32);
        }
        set
    }

    /// Deny by default: only a scope in the set (or `admin`) allows.
    pub fn allows(self, needed: ApiScope) -> bool {
        let admin = 1 << (ApiScope::Admin as u32);
        self.0 & (admin | 1 << (needed as u32)) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = ApiScope> {
        ApiScope::VARIANTS
            .iter()
            .copied()
            .filter(move |s| self.0 & (1 << (*s as u32)) != 0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The credential: an API key id, `oidc:<issuer>#<sub>`, `cert:<serial>`.
    pub credential_id: String,
    /// Who the credential names (a key's name, a token's subject, a certificate's CN).
    pub subject: String,
    /// `None`: a platform credential that sees every tenant.
    pub tenant_id: Option<String>,
    pub scopes: ScopeSet,
    /// Which rate-limit tier applies.
    pub rate_tier: String,
    /// Who answers for the credential (see `kernel::Actor::identity`).
    pub identity: String,
}

impl Principal {
    /// Whose data the caller may see.
    pub fn tenant_scope(&self) -> Scope {
        match &self.tenant_id {
            None => Scope::All,
            Some(tenant) => Scope::Tenant(tenant.clone()),
        }
    }

    pub fn allows(&self, needed: ApiScope) -> bool {
        self.scopes.allows(needed)
    }
}
