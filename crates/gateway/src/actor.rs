//! Who is acting: whose data they may touch and what the audit trail records about them.

use audit::{Entry, Origin, Outcome};
use store::{Sql, StoreError};

use crate::Scope;

/// The caller of a mutating operation. The operation appends its audit record with
/// [`Actor::audit`] inside its own transaction, so the two commit together.
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

    /// Records a successful `action` on `target` in the caller's transaction.
    pub fn audit(
        &self,
        sql: &mut dyn Sql,
        at_ms: i64,
        tenant_id: Option<&str>,
        action: &str,
        target: &str,
        details: Option<String>,
    ) -> Result<(), StoreError> {
        audit::append(
            sql,
            &Entry {
                at_ms,
                origin: self.origin.clone(),
                tenant_id: tenant_id.map(str::to_string),
                action: action.to_string(),
                target: Some(target.to_string()),
                outcome: Outcome::Success,
                details,
            },
        )
        .map(|_| ())
    }
}
