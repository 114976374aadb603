//! The approval policy's decision on an operation: its first matching rule on the
//! operation's facts (EUR amount through the configured rate, account, tenant,
//! destination, initiator) lets it go ahead, blocks it, or holds it for signatures.

use approvals::{EurRate, Facts, Outcome, Requirement};

use crate::PolicyVersion;

/// The EUR price of bitcoin the thresholds are evaluated with (recorded with each
/// decision). Default: a fixed 50,000 EUR per BTC, the demo's rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EurRateConfig {
    pub eur_cents_per_btc: u64,
    pub source: String,
}

impl Default for EurRateConfig {
    fn default() -> Self {
        Self {
            eur_cents_per_btc: 5_000_000,
            source: "fixed:default".into(),
        }
    }
}

/// What an operation held for approval records with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalTicket {
    pub policy_version: i64,
    pub rule: String,
    pub requirement: Requirement,
    pub initiator_may_approve: bool,
    pub expires_in_secs: u32,
    pub eur_cents: u64,
    pub rate: EurRate,
}

/// What the policy in force says about an operation.
#[derive(Debug)]
pub enum PolicyVerdict {
    Allow,
    /// Why (policy version and rule included).
    Block(String),
    Require(Box<ApprovalTicket>),
}

/// The first matching rule of `active` on `facts`, with the rate recorded.
pub fn decide(active: &PolicyVersion, facts: &Facts, rate: &EurRate) -> PolicyVerdict {
    let decision = active.policy.decide(facts);
    let rule = decision.rule.unwrap_or_else(|| "(none)".into());
    match decision.outcome {
        Outcome::Allow => PolicyVerdict::Allow,
        Outcome::Block { reason } => {
            PolicyVerdict::Block(format!("policy v{} rule {rule}: {reason}", active.version))
        }
        Outcome::Require {
            approvals,
            initiator_may_approve,
            expires_in_secs,
        } => PolicyVerdict::Require(Box::new(ApprovalTicket {
            policy_version: active.version,
            rule,
            requirement: approvals,
            initiator_may_approve,
            expires_in_secs,
            eur_cents: facts.eur_cents,
            rate: rate.clone(),
        })),
    }
}
