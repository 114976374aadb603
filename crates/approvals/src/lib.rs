//! `approvals`: multi-signature approval policies (SPEC §5.6), as pure logic. A policy
//! lists approvers (people with their own Ed25519 or secp256k1 keys, and Fulgur's HSM
//! keys), groups of them, and ordered rules matching a payment's EUR amount, account,
//! tenant, destination and initiator; the first match allows, blocks, or requires M-of-N
//! signatures from groups combined with all/any. Approvers sign the canonical payment
//! intent ([`Intent::canonical`]); [`check_vote`] verifies a vote, [`is_met`] counts a
//! quorum, [`hsm_signers_due`] says when the HSM keys sign (only once the human part is
//! met). [`customer_default`] is the customer's policy.
//!
//! The crate knows no store, no HTTP and no key store: the gateway keeps requests and
//! votes, the key store signs for HSM approvers.

mod approver;
mod default_policy;
mod error;
mod intent;
mod money;
mod policy;
mod quorum;

pub use crate::approver::{Approver, ApproverKey};
pub use crate::default_policy::{customer_default, CustomerKeys, LARGE_PAYMENT_EUR_CENTS};
pub use crate::error::ApprovalError;
pub use crate::intent::{Intent, Vote};
pub use crate::money::EurRate;
pub use crate::policy::{Decision, Facts, Match, Operation, Outcome, Policy, Requirement, Rule};
pub use crate::quorum::{check_vote, groups_named, hsm_signers_due, is_met, Ballot, Request};
