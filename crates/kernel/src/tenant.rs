//! Tenant names that belong to the platform.

/// The tenant that holds the platform's own books (node, equity and fee accounts); never
/// a credential's.
pub const SYSTEM_TENANT: &str = "system";

/// What platform credentials are called where a tenant id would stand (idempotency
/// namespaces, audit records, certificates).
pub const PLATFORM_TENANT: &str = "platform";

/// Whether `id` is a name no tenant may take (`platform`, `system`, in any case).
pub fn is_reserved_tenant_id(id: &str) -> bool {
    id.eq_ignore_ascii_case(PLATFORM_TENANT) || id.eq_ignore_ascii_case(SYSTEM_TENANT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platforms_names_are_reserved_in_any_case() {
        for id in ["platform", "PLATFORM", "System", "system"] {
            assert!(is_reserved_tenant_id(id), "{id}");
        }
        for id in ["acme", "platforms", "sys", ""] {
            assert!(!is_reserved_tenant_id(id), "{id}");
        }
    }
}
