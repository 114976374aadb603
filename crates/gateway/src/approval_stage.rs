//! The pipeline's approval stage: the approval policy in force decides, on the payment's
//! EUR amount (through the configured rate), account, tenant, destination and initiator,
//! whether it goes ahead, is rejected, or waits for signatures. Without a policy in force
//! every payment goes ahead.

use approvals::{EurRate, Facts, Operation, Outcome, Requirement};
use async_trait::async_trait;
use store::Store;

use crate::approval_policy::active_policy_in;
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
        let Some(active) = self.store.read(active_policy_in).await? else {
            return Ok(Verdict::Allow);
        };
        let (rate, eur_cents) = (draft.rate.clone(), draft.eur_cents);
        let decision = active.policy.decide(&Facts {
            operation: Operation::Payment,
            eur_cents,
            account_id: draft.account.id.clone(),
            tenant_id: draft.account.tenant_id.clone(),
            destination: draft.invoice.payee.clone(),
            initiator: draft.initiator.clone(),
        });
        let rule = decision.rule.unwrap_or_else(|| "(none)".into());
        Ok(match decision.outcome {
            Outcome::Allow => Verdict::Allow,
            Outcome::Block { reason } => Verdict::Reject {
                code: "blocked_by_policy".into(),
                reason: format!("policy v{} rule {rule}: {reason}", active.version),
            },
            Outcome::Require {
                approvals,
                initiator_may_approve,
                expires_in_secs,
            } => Verdict::RequireApproval {
                reason: format!("policy v{} rule {rule}", active.version),
                ticket: Box::new(ApprovalTicket {
                    policy_version: active.version,
                    rule,
                    requirement: approvals,
                    initiator_may_approve,
                    expires_in_secs,
                    eur_cents,
                    rate,
                }),
            },
        })
    }
}
