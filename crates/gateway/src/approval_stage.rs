//! The pipeline's approval stage: the approval policy in force decides, on the payment's
//! EUR amount (through the configured rate), account, tenant, destination and initiator,
//! whether it goes ahead, is rejected, or waits for signatures. Without a policy in force
//! every payment goes ahead.

use approvals::{EurRate, Facts, Operation, Outcome, Requirement};
use async_trait::async_trait;
use store::Store;

use crate::approval_policy::{active_policy_in, PolicyVersion};
use crate::pipeline::{PaymentDraft, Stage, Verdict};
use crate::GatewayError;

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

/// What a payment held for approval records with it.
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

pub(crate) struct ApprovalStage {
    pub store: Store,
}

#[async_trait]
impl Stage for ApprovalStage {
    fn name(&self) -> &'static str {
        "approvals"
    }

    async fn check(&self, draft: &PaymentDraft) -> Result<Verdict, GatewayError> {
        let Some(active) = self.store.read_one(active_policy_in).await? else {
            return Ok(Verdict::Allow);
        };
        let facts = Facts {
            operation: Operation::Payment,
            eur_cents: draft.eur_cents,
            account_id: draft.account.id.clone(),
            tenant_id: draft.account.tenant_id.clone(),
            destination: draft.invoice.payee.clone(),
            initiator: draft.initiator.clone(),
        };
        Ok(match decide(&active, &facts, &draft.rate) {
            PolicyVerdict::Allow => Verdict::Allow,
            PolicyVerdict::Block(reason) => Verdict::Reject {
                code: "blocked_by_policy".into(),
                reason,
            },
            PolicyVerdict::Require(ticket) => Verdict::RequireApproval {
                reason: format!("policy v{} rule {}", ticket.policy_version, ticket.rule),
                ticket,
            },
        })
    }
}

/// What the policy in force says about an operation.
pub(crate) enum PolicyVerdict {
    Allow,
    /// Why (policy version and rule included).
    Block(String),
    Require(Box<ApprovalTicket>),
}

/// The first matching rule of `active` on `facts`, with the rate recorded.
pub(crate) fn decide(active: &PolicyVersion, facts: &Facts, rate: &EurRate) -> PolicyVerdict {
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
