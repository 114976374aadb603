//! The payment pipeline's decision stages, in named slots: validate → limits →
//! compliance → approvals. A stage decides in two phases: `check`, before the payment's
//! transaction (decoding, lookups elsewhere, anything slow or async), and `in_tx`, inside
//! it with the payer's account row locked (so it sees every committed hold and payment of
//! that account, and no other payment of it can commit meanwhile: velocity, later AML
//! aggregates). The ledger hold, execution and settlement follow in `payments.rs`. The
//! compliance issue fills its slot without touching handlers or the other stages.

use std::sync::Arc;
use tracing::Instrument;

use async_trait::async_trait;
use ledger::Account;
use node_pool::{DecodedInvoice, Network};
use store::Sql;

use crate::inbound::{Held, InboundStage, InboundVerdict, Receipt};
use crate::GatewayError;
use kernel::Clock;

/// Where a stage sits: stages decide in slot order, and in the order added within one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    /// The request is well formed and the invoice payable (errors, not verdicts).
    Validate,
    /// Spending limits (velocity).
    Limits,
    /// Sanctions, AML and due-diligence decisions.
    Compliance,
    /// The approval policy: a hold for M-of-N approvers, or an outright decision.
    Approvals,
}

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
    /// The beneficiary the payer named, screened by name.
    pub beneficiary: Option<compliance::Query>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Allow,
    /// Held for a compliance officer, with the alerts to record; unlike the others it
    /// does not end the pipeline: the stages after it still decide (an approval policy
    /// still applies once the payment is released).
    Review {
        alerts: Vec<compliance::AlertDraft>,
    },
    /// Funds are held, execution waits for approvals.
    RequireApproval {
        reason: String,
        ticket: Box<controls::ApprovalTicket>,
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
    /// Before the payment's transaction. An error means the request is invalid (nothing
    /// is recorded); a verdict decides what happens to a valid payment.
    async fn check(&self, _draft: &PaymentDraft) -> Result<Verdict, GatewayError> {
        Ok(Verdict::Allow)
    }
    /// Inside the payment's transaction, the payer's account row locked, before anything
    /// of the payment is written. An error rolls the whole request back.
    fn in_tx(
        &self,
        _sql: &mut dyn Sql,
        _draft: &PaymentDraft,
        _now_ms: i64,
    ) -> Result<Verdict, GatewayError> {
        Ok(Verdict::Allow)
    }
    /// After a payment from `account_id` was recorded (its transaction committed): work
    /// that keeps the next payments fast, started here and never awaited by this one.
    fn committed(&self, _account_id: &str) {}
}

/// What the `check` phase decided, and which stage decided it.
#[derive(Debug, Clone)]
pub struct Checked {
    pub verdict: Verdict,
    /// The deciding stage's place in the pipeline (the number of stages if all allowed).
    decided_by: usize,
    /// Alerts of stages that asked for a review on the way.
    review: Vec<compliance::AlertDraft>,
}

/// What the `in_tx` phase decided: the verdict (never `Review`) and the alerts that hold
/// the payment for review (empty: not held).
#[derive(Debug, Clone)]
pub struct Decided {
    pub verdict: Verdict,
    pub review: Vec<compliance::AlertDraft>,
}

/// The stages in slot order; the first verdict other than `Allow` decides. Received
/// payments pass the inbound stages, in the order added.
#[derive(Clone)]
pub struct Pipeline {
    stages: Vec<(Slot, Arc<dyn Stage>)>,
    inbound: Vec<Arc<dyn InboundStage>>,
}

impl Pipeline {
    /// Validation, velocity limits, then the approval policy in force. The gateway's
    /// builder adds the compliance stages, which screen against its lists.
    pub fn standard(network: Network, clock: Arc<dyn Clock>, store: store::Store) -> Self {
        Self {
            stages: Vec::new(),
            inbound: Vec::new(),
        }
        .with_stage(Slot::Validate, Arc::new(Validate { network, clock }))
        .with_stage(Slot::Limits, Arc::new(crate::control_stages::VelocityStage))
        .with_stage(
            Slot::Approvals,
            Arc::new(crate::control_stages::ApprovalStage { store }),
        )
    }

    /// Adds a stage at the end of its slot (e.g. a real compliance stage before the
    /// approvals, whatever the order of calls).
    pub fn with_stage(mut self, slot: Slot, stage: Arc<dyn Stage>) -> Self {
        let at = self.stages.partition_point(|(s, _)| *s <= slot);
        self.stages.insert(at, (slot, stage));
        self
    }

    /// Adds an inbound stage (screening of received payments).
    pub fn with_inbound_stage(mut self, stage: Arc<dyn InboundStage>) -> Self {
        self.inbound.push(stage);
        self
    }

    /// The inbound stages, in the receipt's transaction: the first `Hold` decides, with
    /// the stage's name.
    pub(crate) fn run_inbound(
        &self,
        sql: &mut dyn Sql,
        receipt: &Receipt,
        now_ms: i64,
    ) -> Result<Option<Held>, GatewayError> {
        for stage in &self.inbound {
            if let InboundVerdict::Hold {
                code,
                reason,
                alerts,
            } = stage.in_tx(sql, receipt, now_ms)?
            {
                return Ok(Some(Held {
                    stage: stage.name(),
                    code,
                    reason,
                    alerts,
                }));
            }
        }
        Ok(None)
    }

    pub fn stage_names(&self) -> Vec<&'static str> {
        self.stages.iter().map(|(_, s)| s.name()).collect()
    }

    /// After a payment from `account_id` was recorded.
    pub fn committed(&self, account_id: &str) {
        for (_, stage) in &self.stages {
            stage.committed(account_id);
        }
    }

    /// The `check` phase, outside any transaction.
    pub async fn run(&self, draft: &PaymentDraft) -> Result<Checked, GatewayError> {
        let mut review = Vec::new();
        for (at, (_, stage)) in self.stages.iter().enumerate() {
            let span = tracing::info_span!("pipeline.stage", stage = stage.name());
            let started = std::time::Instant::now();
            let verdict = stage.check(draft).instrument(span).await?;
            record_stage(stage.name(), "check", started);
            match verdict {
                Verdict::Allow => {}
                Verdict::Review { alerts } => review.extend(alerts),
                verdict => {
                    tracing::info!(stage = stage.name(), ?verdict, "payment stopped by a stage");
                    return Ok(Checked {
                        verdict,
                        decided_by: at,
                        review,
                    });
                }
            }
        }
        Ok(Checked {
            verdict: Verdict::Allow,
            decided_by: self.stages.len(),
            review,
        })
    }

    /// The `in_tx` phase, in the payment's transaction with the payer's row locked: the
    /// stages up to the one that decided `checked` run again on what is committed; the
    /// first of them to say something other than `Allow` or `Review` decides instead. A
    /// rejected payment moves no money, so nothing runs for it.
    pub fn run_in_tx(
        &self,
        sql: &mut dyn Sql,
        draft: &PaymentDraft,
        checked: &Checked,
        now_ms: i64,
    ) -> Result<Decided, GatewayError> {
        if matches!(checked.verdict, Verdict::Reject { .. }) {
            return Ok(Decided {
                verdict: checked.verdict.clone(),
                review: Vec::new(),
            });
        }
        let mut review = checked.review.clone();
        for (_, stage) in self.stages.iter().take(checked.decided_by + 1) {
            let started = std::time::Instant::now();
            let verdict = stage.in_tx(sql, draft, now_ms)?;
            record_stage(stage.name(), "in_tx", started);
            match verdict {
                Verdict::Allow => {}
                Verdict::Review { alerts } => review.extend(alerts),
                verdict => {
                    tracing::info!(
                        stage = stage.name(),
                        ?verdict,
                        "payment stopped in its transaction"
                    );
                    return Ok(Decided { verdict, review });
                }
            }
        }
        Ok(Decided {
            verdict: checked.verdict.clone(),
            review,
        })
    }
}

/// `fulgur_pipeline_stage_duration_seconds` by stage and phase (`check` before the
/// payment's transaction, `in_tx` inside it): what each control adds to a payment.
fn record_stage(stage: &'static str, phase: &'static str, started: std::time::Instant) {
    metrics::histogram!(
        "fulgur_pipeline_stage_duration_seconds",
        "stage" => stage,
        "phase" => phase,
    )
    .record(started.elapsed().as_secs_f64());
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
