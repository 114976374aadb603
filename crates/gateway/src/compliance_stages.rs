//! The pipeline's compliance slot over `compliance`: the payee's node is screened against
//! the lists in force and the watchlist before anything is recorded. A hit refuses the
//! payment (`compliance_blocked`, a sentence that does not say why) and leaves its
//! evidence in a platform-only audit record, which a tenant's credential never reads.

use std::sync::Arc;

use async_trait::async_trait;
use compliance::{ComplianceError, Screening};
use kernel::Clock;
use store::Store;

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
