//! The pipeline's stages over `compliance`. In the compliance slot, the payee's node is
//! screened against the lists in force and the watchlist before anything is recorded: a
//! hit refuses the payment (`compliance_blocked`, a sentence that does not say why) and
//! leaves its evidence in a platform-only audit record, which a tenant's credential never
//! reads. In the limits slot, the account's customer (if any) must be verified and stay
//! within its EUR limits over all its accounts, checked with the customer's row locked.

use std::sync::Arc;

use async_trait::async_trait;
use compliance::{ComplianceError, Screening};
use kernel::Clock;
use store::{Sql, Store, Value};

use crate::pipeline::{PaymentDraft, Stage, Verdict};
use crate::GatewayError;

pub(crate) struct SanctionsStage {
    pub screening: Screening,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl Stage for SanctionsStage {
    fn name(&self) -> &'static str {
        "sanctions"
    }

    async fn check(&self, draft: &PaymentDraft) -> Result<Verdict, GatewayError> {
        let hits = self.screening.screen_node(&draft.invoice.payee)?;
        if hits.is_empty() {
            return Ok(Verdict::Allow);
        }
        let evidence: Vec<String> = hits
            .iter()
            .map(|h| format!("{}:{}", h.list, h.entry_id.as_deref().unwrap_or("-")))
            .collect();
        tracing::warn!(
            account = %draft.account.id,
            payee = %draft.invoice.payee,
            hits = %evidence.join(","),
            "payment blocked by sanctions screening"
        );
        let entry = audit::Entry {
            at_ms: self.clock.now_ms(),
            origin: kernel::Origin {
                actor_id: draft.initiator.clone(),
                subject: draft.initiator_person.clone(),
                request_id: format!("screening-{}", draft.invoice.payment_hash),
                source_ip: None,
            },
            // Platform-only: the payer's tenant must not learn why.
            tenant_id: None,
            action: "payment.compliance_block".to_string(),
            target: Some(format!("account:{}", draft.account.id)),
            outcome: audit::Outcome::Denied,
            details: Some(format!(
                "payee {} on {}",
                draft.invoice.payee,
                evidence.join(", ")
            )),
        };
        self.store
            .write(move |sql| audit::append(sql, &entry).map(|_| ()))
            .await?;
        Err(ComplianceError::Blocked.into())
    }
}

pub(crate) struct CustomerStage;

#[async_trait]
impl Stage for CustomerStage {
    fn name(&self) -> &'static str {
        "customer_limits"
    }

    fn in_tx(
        &self,
        sql: &mut dyn Sql,
        draft: &PaymentDraft,
        now_ms: i64,
    ) -> Result<Verdict, GatewayError> {
        compliance::check_payment(
            sql,
            &draft.account.id,
            draft.eur_cents,
            now_ms,
            |sql, customer_id, since_ms| {
                // What the customer's accounts sent or hold for sending; the payment being
                // recorded is not in the table yet.
                let sent = sql
                    .query_one(
                        "SELECT CAST(COALESCE(SUM(p.eur_cents), 0) AS BIGINT) AS sent \
                         FROM payments p JOIN accounts a ON a.id = p.account_id \
                         WHERE a.customer_id = $1 AND p.created_at_ms >= $2 \
                         AND p.status NOT IN ('failed', 'rejected')",
                        &[customer_id.into(), Value::Int(since_ms)],
                    )?
                    .i64("sent")?;
                Ok::<_, GatewayError>(u64::try_from(sent).unwrap_or(0))
            },
        )?;
        Ok(Verdict::Allow)
    }
}
