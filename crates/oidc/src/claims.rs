//! A verified token's claims as a Fulgur principal.

use std::collections::BTreeSet;

use access::{Principal, Role, ScopeSet};
use serde_json::{Map, Value};

use crate::{IssuerConfig, TokenFailure};

/// Maps verified claims to a principal, or refuses (deny by default: no mapped role, no
/// principal).
pub(crate) fn principal(
    config: &IssuerConfig,
    claims: &Map<String, Value>,
) -> Result<Principal, TokenFailure> {
    let subject = match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
        _ => return Err(TokenFailure::NoSubject),
    };
    let names: Vec<&str> = match claims.get(&config.roles_claim) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(list)) => list.split_whitespace().collect(),
        _ => Vec::new(),
    };
    let roles: BTreeSet<Role> = names
        .into_iter()
        // Only what the operator mapped: an IdP group that happens to be called `admin`
        // is not Fulgur's admin.
        .filter_map(|name| config.role_map.get(name)?.parse().ok())
        .collect();
    if roles.is_empty() {
        return Err(TokenFailure::NoRoles);
    }
    // Only an absent claim may mean the platform, and only for a listed subject: a
    // malformed tenant (null, empty, a number) never widens a token to every tenant.
    let tenant_id = match claims.get(&config.tenant_claim) {
        Some(Value::String(tenant)) if valid_tenant(tenant) => Some(tenant.clone()),
        Some(_) => return Err(TokenFailure::BadTenant),
        None if config.platform_subjects.contains(&subject) => None,
        None => return Err(TokenFailure::NoTenant),
    };
    let roles: Vec<Role> = roles.into_iter().collect();
    let credential_id = format!("oidc:{}#{subject}", config.issuer);
    Ok(Principal {
        identity: credential_id.clone(),
        credential_id,
        subject,
        tenant_id,
        scopes: ScopeSet::of(&roles, &[]),
        rate_tier: config.rate_tier.clone(),
    })
}

/// A tenant id as Fulgur issues them: 1-64 of `[A-Za-z0-9_-]`, not the reserved `platform`
/// or `system`.
fn valid_tenant(tenant: &str) -> bool {
    (1..=64).contains(&tenant.len())
        && !access::is_reserved_tenant_id(tenant)
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
