//! Scopes (what an endpoint needs) and roles (named sets of scopes). Deny by default: a
//! credential may do exactly what its scopes name; `admin` names everything.

use std::str::FromStr;

use crate::AccessError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApiScope {
    AccountsRead,
    AccountsWrite,
    InvoicesRead,
    InvoicesWrite,
    PaymentsRead,
    PaymentsWrite,
    WebhooksRead,
    WebhooksWrite,
    NodesRead,
    LedgerRead,
    ApprovalsWrite,
    ComplianceRead,
    AuditRead,
    /// Scrape `/metrics`.
    MetricsRead,
    Admin,
}

impl ApiScope {
    pub const ALL: [ApiScope; 15] = [
        ApiScope::AccountsRead,
        ApiScope::AccountsWrite,
        ApiScope::InvoicesRead,
        ApiScope::InvoicesWrite,
        ApiScope::PaymentsRead,
        ApiScope::PaymentsWrite,
        ApiScope::WebhooksRead,
        ApiScope::WebhooksWrite,
        ApiScope::NodesRead,
        ApiScope::LedgerRead,
        ApiScope::ApprovalsWrite,
        ApiScope::ComplianceRead,
        ApiScope::AuditRead,
        ApiScope::MetricsRead,
        ApiScope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::AccountsRead => "accounts:read",
            ApiScope::AccountsWrite => "accounts:write",
            ApiScope::InvoicesRead => "invoices:read",
            ApiScope::InvoicesWrite => "invoices:write",
            ApiScope::PaymentsRead => "payments:read",
            ApiScope::PaymentsWrite => "payments:write",
            ApiScope::WebhooksRead => "webhooks:read",
            ApiScope::WebhooksWrite => "webhooks:write",
            ApiScope::NodesRead => "nodes:read",
            ApiScope::LedgerRead => "ledger:read",
            ApiScope::ApprovalsWrite => "approvals:write",
            ApiScope::ComplianceRead => "compliance:read",
            ApiScope::AuditRead => "audit:read",
            ApiScope::MetricsRead => "metrics:read",
            ApiScope::Admin => "admin",
        }
    }
}

impl FromStr for ApiScope {
    type Err = AccessError;

    fn from_str(s: &str) -> Result<Self, AccessError> {
        ApiScope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| AccessError::InvalidInput(format!("unknown scope {s:?}")))
    }
}

/// Whose credentials an endpoint serves, besides the scope it needs (SPEC §4). A scope
/// says what a credential may do; the audience says whether a tenant's credential may do
/// it at all: `admin` of a tenant is not an administrator of the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
        match self {
            Audience::Platform => "platform",
            Audience::Tenant => "tenant",
            Audience::Any => "any",
        }
    }

    /// Whether a credential of `tenant` (`None`: the platform's) may call.
    pub fn admits(self, tenant: Option<&str>) -> bool {
        match self {
            Audience::Platform => tenant.is_none(),
            Audience::Tenant | Audience::Any => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Operator,
        Role::Approver,
        Role::Compliance,
        Role::Auditor,
        Role::Integration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Compliance => "compliance",
            Role::Auditor => "auditor",
            Role::Integration => "integration",
        }
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

impl FromStr for Role {
    type Err = AccessError;

    fn from_str(s: &str) -> Result<Self, AccessError> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| AccessError::InvalidInput(format!("unknown role {s:?}")))
    }
}
