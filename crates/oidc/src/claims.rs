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
        .filter_map(|name| {
            let mapped = config.role_map.get(name).map_or(name, String::as_str);
            mapped.parse().ok()
        })
        .collect();
    if roles.is_empty() {
        return Err(TokenFailure::NoRoles);
    }
    let tenant_id = match claims.get(&config.tenant_claim) {
        Some(Value::String(tenant)) if !tenant.is_empty() => Some(tenant.clone()),
        _ if config.platform => None,
        _ => return Err(TokenFailure::NoTenant),
    };
    let roles: Vec<Role> = roles.into_iter().collect();
    Ok(Principal {
        credential_id: format!("oidc:{}#{subject}", config.issuer),
        subject,
        tenant_id,
        scopes: ScopeSet::of(&roles, &[]),
        rate_tier: config.rate_tier.clone(),
    })
}
