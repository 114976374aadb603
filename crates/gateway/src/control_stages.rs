//! The pipeline's stages over `controls`: velocity limits in the limits slot (decided in
//! the payment's transaction, with the payer's row locked, so two concurrent payments
//! cannot both slip under a limit) and the approval policy in the approvals slot (without
//! a policy in force every payment goes ahead).

use approvals::{Facts, Operation};
use async_trait::async_trait;
use controls::{decide, policies, velocity, PolicyVerdict};
use store::{Sql, Store, Value};

use crate::pipeline::{PaymentDraft, Stage, Verdict};
use crate::GatewayError;

pub(crate) struct VelocityStage;

#[async_trait]
impl Stage for VelocityStage {
    fn name(&self) -> &'static str {
        "velocity"
    }

    fn in_tx(
        &self,
        sql: &mut dyn Sql,
        draft: &PaymentDraft,
        now_ms: i64,
    ) -> Result<Verdict, GatewayError> {
        let account_id = draft.account.id.as_str();
        let limits = velocity::limits(sql, account_id)?;
        velocity::check(limits, draft.eur_cents, now_ms, |since_ms| {
            // What the account sent or holds for sending, from its days' sums (the windows
            // start at a UTC midnight); the payment being recorded is not in the table
            // yet, `check` adds it.
            debug_assert_eq!(
                since_ms.rem_euclid(86_400_000),
                0,
                "a window starts at midnight"
            );
            let sent = sql
                .query_one(
                    "SELECT CAST(COALESCE(SUM(eur_cents), 0) AS BIGINT) AS sent \
                     FROM payment_spend_days WHERE account_id = $1 AND day_start_ms >= $2",
                    &[account_id.into(), Value::Int(since_ms)],
                )?
                .i64("sent")?;
            Ok::<_, GatewayError>(u64::try_from(sent).unwrap_or(0))
        })?;
        Ok(Verdict::Allow)
    }
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
        let Some(active) = self.store.read_one(policies::active).await? else {
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
