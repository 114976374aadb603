//! `controls`: the controls a payment passes besides having the money — the versioned
//! approval policy (proposed by one administrator, put in force by another), the approval
//! requests of held operations with their votes, the policy's decision on an operation's
//! facts, and each account's velocity limits. Each is a table and functions over the
//! caller's transaction (`&mut dyn Sql`), so the payment that is held, rejected or
//! released moves in the same transaction as its request.
//!
//! It knows nothing of payments, invoices, nodes or HTTP: the gateway's pipeline stages
//! hand it an operation's facts and act on what it answers; the gateway counts what an
//! account has sent and asks [`velocity::check`] whether one more payment fits.

mod decide;
mod error;
pub mod policies;
pub mod requests;
pub mod velocity;

pub use crate::decide::{decide, ApprovalTicket, EurRateConfig, PolicyVerdict};
pub use crate::error::ControlsError;
pub use crate::policies::{PolicyState, PolicyVersion};
pub use crate::requests::{ApprovalRequest, CastVote, RequestState};
pub use crate::velocity::{VelocityLimits, MAX_LIMIT_EUR_CENTS};
