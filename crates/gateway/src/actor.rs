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
}

impl Actor {
    /// The service itself, or an operator's CLI run against the store: every tenant.
    pub fn system(request_id: impl Into<String>) -> Self {
        Self {
            scope: Scope::All,
            origin: Origin::system(request_id),
        }
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
