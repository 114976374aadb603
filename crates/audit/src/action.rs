//! An actor's successful action, recorded in the caller's transaction so that the action
//! and its record commit together.

use kernel::Actor;
use store::{Sql, StoreError};

use crate::{append, Entry, Outcome};

/// Records what an [`Actor`] did (the trait exists because `Actor` lives in `kernel`,
/// which knows no store).
pub trait AuditAction {
    /// Records a successful `action` on `target` in the caller's transaction.
    fn audit(
        &self,
        sql: &mut dyn Sql,
        at_ms: i64,
        tenant_id: Option<&str>,
        action: &str,
        target: &str,
        details: Option<String>,
    ) -> Result<(), StoreError>;
}

impl AuditAction for Actor {
    fn audit(
        &self,
        sql: &mut dyn Sql,
        at_ms: i64,
        tenant_id: Option<&str>,
        action: &str,
        target: &str,
        details: Option<String>,
    ) -> Result<(), StoreError> {
        append(
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
