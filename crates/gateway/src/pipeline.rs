//! The payment pipeline's decision stages: validate → limits and compliance → approvals.
//! Each is one small [`Stage`]; the ledger hold, execution and settlement follow in
//! `payments.rs`. The compliance and approval issues add stages here without touching
//! handlers.

use std::sync::Arc;
use tracing::Instrument;

use async_trait::async_trait;
use ledger::Account;
use node_pool::{DecodedInvoice, Network};

use crate::GatewayError;
use kernel::Clock;

/// A payment as the stages see it, before anything is stored.
#[derive(Debug, Clone)]
pub struct PaymentDraft {
    pub account: Account,
    pub bolt11: String,
    pub invoice: DecodedInvoice,
    pub amount_msat: u64,
    pub max_fee_msat: u64,
    /// The credential that asked for the payment.
    pub initiator: String,
    /// Who answers for the initiating credential (`Actor::identity`).
    pub initiator_person: String,
    /// The amount in EUR cents at the configured rate, as the payment records it.
    pub eur_cents: u64,
    pub rate: approvals::EurRate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Funds are held, execution waits for approvals.
    RequireApproval {
        reason: String,
        ticket: Box<crate::approval_stage::ApprovalTicket>,
    },
    /// Recorded as rejected; nothing is held or sent.
    Reject {
        code: String,
        reason: String,
    },
}

#[async_trait]
pub trait Stage: Send + Sync {
    fn name(&self) -> &'static str;
    /// An error means the request is invalid (nothing is recorded); a verdict decides what
    /// happens to a valid payment.
    async fn check(&self, draft: &PaymentDraft) -> Result<Verdict, GatewayError>;
}

/// The ordered stages; the first verdict other than `Allow` decides.
#[derive(Clone)]
pub struct Pipeline {
    stages: Vec<Arc<dyn Stage>>,
}

impl Pipeline {
    /// Validation, today's compliance stage (which allows everything), then the approval
    /// policy in force. Velocity limits are checked where the funds are held (they need
    /// the account's row locked), in the same transaction.
    pub fn standard(network: Network, clock: Arc<dyn Clock>, store: store::Store) -> Self {
        Self {
            stages: vec![
                Arc::new(Validate { network, clock }),
                Arc::new(AllowAll("limits_and_compliance")),
                Arc::new(crate::approval_stage::ApprovalStage { store }),
            ],
        }
    }

    /// Appends a stage (e.g. a real compliance or approval stage).
    pub fn with_stage(mut self, stage: Arc<dyn Stage>) -> Self {
        self.stages.push(stage);
        self
    }

    pub fn stage_names(&self) -> Vec<&'static str> {
        self.stages.iter().map(|s| s.name()).collect()
    }

    pub async fn run(&self, draft: &PaymentDraft) -> Result<Verdict, GatewayError> {
        for stage in &self.stages {
            let span = tracing::info_span!("pipeline.stage", stage = stage.name());
            let verdict = stage.check(draft).instrument(span).await?;
            if verdict != Verdict::Allow {
                tracing::info!(stage = stage.name(), ?verdict, "payment stopped by a stage");
                return Ok(verdict);
            }
        }
        Ok(Verdict::Allow)
    }
}

/// The invoice is for our network, unexpired, and the amounts are sane.
struct Validate {
    network: Network,
    clock: Arc<dyn Clock>,
}

#[async_trait]
impl Stage for Validate {
    fn name(&self) -> &'static str {
        "validate"
    }

    async fn check(&self, draft: &PaymentDraft) -> Result<Verdict, GatewayError> {
        if draft.invoice.network != self.network {
            return Err(GatewayError::WrongNetwork {
                invoice: draft.invoice.network.to_string(),
                gateway: self.network.to_string(),
            });
        }
        let now_secs = u64::try_from(self.clock.now_ms() / 1000).unwrap_or(0);
        if draft.invoice.expires_at_unix_secs <= now_secs {
            return Err(GatewayError::InvoiceExpired);
        }
        if draft.amount_msat == 0 || draft.amount_msat > ledger::MAX_MONEY_MSAT {
            return Err(GatewayError::InvalidField {
                field: "amount_msat",
                reason: "must be between 1 and 2.1e18".into(),
            });
        }
        if draft.max_fee_msat > ledger::MAX_MONEY_MSAT - draft.amount_msat {
            return Err(GatewayError::InvalidField {
                field: "max_fee_msat",
                reason: "amount plus maximum fee exceeds 21 million BTC".into(),
            });
        }
        Ok(Verdict::Allow)
    }
}

/// A stage that exists and is wired but allows everything (until its issue lands).
struct AllowAll(&'static str);

#[async_trait]
impl Stage for AllowAll {
    fn name(&self) -> &'static str {
        self.0
    }

    async fn check(&self, _draft: &PaymentDraft) -> Result<Verdict, GatewayError> {
        Ok(Verdict::Allow)
    }
}
