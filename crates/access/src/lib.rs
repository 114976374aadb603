//! `access`: who may call Fulgur and what they may do (SPEC §5.3). Scopes name what an
//! endpoint needs; roles are sets of scopes; a [`Principal`] is an authenticated
//! credential with its tenant and scopes. API keys are 256-bit secrets shown once and kept
//! only as HMAC-SHA256 under a server pepper, bound to a tenant (or to the platform), with
//! optional expiry and source-address allowlist, rotated with an overlap window and
//! revoked at once on every replica (over PostgreSQL replicas keep verified keys in memory
//! and drop one when its row's change is announced; over SQLite every request reads it).
//!
//! Every key operation is audited in its own transaction. The crate knows nothing of HTTP.

mod apikeys;
mod error;
mod key_cache;
mod pepper;
mod principal;
mod roles;
mod token;
mod usage;

pub use crate::apikeys::{ApiKeyInfo, ApiKeys, AuthFailure, NewApiKey, MAX_ROTATION_OVERLAP_SECS};
pub use crate::error::AccessError;
pub use crate::pepper::Pepper;
pub use crate::principal::{Principal, ScopeSet};
pub use crate::roles::{ApiScope, Audience, Role};
pub use crate::token::{presented_key_id, ApiKeySecret, API_KEY_PREFIX};
pub use crate::usage::{Admission, Usage, UsageConfig};
/// Tenant ids no tenant may take (`platform`, `system`), for every credential issuer.
pub use kernel::is_reserved_tenant_id;
