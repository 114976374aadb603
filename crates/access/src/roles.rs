//! Scopes (what an endpoint needs) and roles (named sets of scopes). Deny by default: a
//! credential may do exactly what its scopes name; `admin` names everything.

use crate::AccessError;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[strum(parse_err_ty = AccessError, parse_err_fn = unknown_scope)]
pub enum ApiScope {
    #[strum(serialize = "accounts:read")]
    AccountsRead,
    #[strum(serialize = "accounts:write")]
    AccountsWrite,
    #[strum(serialize = "invoices:read")]
    InvoicesRead,
    #[strum(serialize = "invoices:write")]
    InvoicesWrite,
    #[strum(serialize = "payments:read")]
    PaymentsRead,
    #[strum(serialize = "payments:write")]
    PaymentsWrite,
    #[strum(serialize = "webhooks:read")]
    WebhooksRead,
    #[strum(serialize = "webhooks:write")]
    WebhooksWrite,
    #[strum(serialize = "nodes:read")]
    NodesRead,
    #[strum(serialize = "ledger:read")]
    LedgerRead,
    #[strum(serialize = "approvals:write")]
    ApprovalsWrite,
    #[strum(serialize = "compliance:read")]
    ComplianceRead,
    /// Watchlists, alert decisions, cases and reports.
    #[strum(serialize = "compliance:write")]
    ComplianceWrite,
    #[strum(serialize = "audit:read")]
    AuditRead,
    /// Scrape `/metrics`.
    #[strum(serialize = "metrics:read")]
    MetricsRead,
    #[strum(serialize = "admin")]
    Admin,
}

impl ApiScope {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

fn unknown_scope(s: &str) -> AccessError {
    AccessError::InvalidInput(format!("unknown scope {s:?}"))
}

/// Whose credentials an endpoint serves, besides the scope it needs (SPEC §4). A scope
/// says what a credential may do; the audience says whether a tenant's credential may do
/// it at all: `admin` of a tenant is not an administrator of the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Audience {
    /// Platform credentials only (nodes, books, policies, recoveries, limits, metrics):
    /// a tenant credential is refused whatever its scopes.
    Platform,
    /// A tenant credential sees its own tenant only; a platform one may name any tenant.
    Tenant,
    /// Either kind, with nothing tenant-specific behind it.
    Any,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether a credential of `tenant` (`None`: the platform's) may call.
    pub fn admits(self, tenant: Option<&str>) -> bool {
        match self {
            Audience::Platform => tenant.is_none(),
            Audience::Tenant | Audience::Any => true,
        }
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[strum(
    serialize_all = "snake_case",
    parse_err_ty = AccessError,
    parse_err_fn = unknown_role
)]
pub enum Role {
    /// Everything, including keys, tenants and the audit trail.
    Admin,
    /// Runs the platform: nodes, books, webhooks; reads accounts and payments.
    Operator,
    /// Approves or rejects payments that wait for approval.
    Approver,
    /// Reviews payments and compliance findings; reads the audit trail.
    Compliance,
    /// Reads the audit trail and the books; changes nothing.
    Auditor,
    /// A business system: accounts, invoices, payments and webhooks of its tenant.
    Integration,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn scopes(self) -> &'static [ApiScope] {
        use ApiScope::*;
        match self {
            Role::Admin => &[Admin],
            Role::Operator => &[
                MetricsRead,
                NodesRead,
                LedgerRead,
                AccountsRead,
                InvoicesRead,
                PaymentsRead,
                WebhooksRead,
                WebhooksWrite,
            ],
            Role::Approver => &[ApprovalsWrite, PaymentsRead, AccountsRead],
            Role::Compliance => &[
                ComplianceRead,
                ComplianceWrite,
                PaymentsRead,
                InvoicesRead,
                AccountsRead,
                AuditRead,
            ],
            Role::Auditor => &[
                AuditRead,
                LedgerRead,
                AccountsRead,
                InvoicesRead,
                PaymentsRead,
            ],
            Role::Integration => &[
                AccountsRead,
                AccountsWrite,
                InvoicesRead,
                InvoicesWrite,
                PaymentsRead,
                PaymentsWrite,
                WebhooksRead,
                WebhooksWrite,
            ],
        }
    }
}

fn unknown_role(s: &str) -> AccessError {
    AccessError::InvalidInput(format!("unknown role {s:?}"))
}

#[cfg(test)]
mod tests {
    use strum::VariantArray;

    use super::*;

    #[test]
    fn names_round_trip() {
        for &scope in ApiScope::VARIANTS {
            assert_eq!(scope.as_str().parse::<ApiScope>().ok(), Some(scope));
        }
        for &role in Role::VARIANTS {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
        assert!(matches!(
            "accounts".parse::<ApiScope>(),
            Err(AccessError::InvalidInput(_))
        ));
        assert!(matches!(
            "root".parse::<Role>(),
            Err(AccessError::InvalidInput(_))
        ));
    }
}
