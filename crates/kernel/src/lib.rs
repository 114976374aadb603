//! `kernel`: the few types every capability shares, and nothing else: injected time and
//! identifiers, who is acting (scope, origin, identity), the tenant names no tenant may
//! take, one page bound, and the shape of a gauge sample. No IO, no store, no Lightning: `access`, `oidc`, `pki`,
//! `webhooks` and `audit` depend on it instead of on the payment domain, so an edit there
//! recompiles none of them.

mod actor;
mod clock;
mod gauge;
mod ids;
mod page;
mod tenant;

pub use crate::actor::{Actor, Origin, Proposer, Scope, OUT_OF_BAND};
pub use crate::clock::{rfc3339, Clock, ManualClock, SystemClock};
pub use crate::gauge::GaugeSample;
pub use crate::ids::{IdSource, RandomIds, SequentialIds};
pub use crate::page::{page_limit, DEFAULT_PAGE, MAX_PAGE};
pub use crate::tenant::{is_reserved_tenant_id, PLATFORM_TENANT, SYSTEM_TENANT};
