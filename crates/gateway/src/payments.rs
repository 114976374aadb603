//! Outgoing payments: pending → in_flight → succeeded | failed (with awaiting_approval and
//! rejected from the pipeline). Creating one runs the decision stages, then in one
//! transaction records the payment, the idempotency key and the ledger hold (or, for one of
//! our own invoices, settles it inside the ledger). Execution (`execution.rs`) and
//! settlement from the nodes' reports (`settlement.rs`) follow; `reconcile.rs` finishes
//! what a crash or a lost event left unfinished.

use audit::AuditAction;

use ledger::{place_hold, Posting};
use node_pool::decode_invoice;
use serde_json::json;
use store::{Sql, StoreError, Value};

use crate::invoices::{invoice_by_hash, mark_paid, PaidBy};
use crate::pipeline::{Checked, PaymentDraft, Pipeline, Verdict};
use crate::records::{InvoiceStatus, PaymentRecord, PaymentStatus};
use crate::{observe, Actor, Gateway, GatewayError, Scope};

#[derive(Debug, Clone)]
pub struct NewPayment {
    pub account_id: String,
    pub bolt11: String,
    /// Required for an invoice without an amount; must match an invoice's amount if given.
    pub amount_msat: Option<u64>,
    pub max_fee_msat: Option<u64>,
    /// Who the payment is for, when the payer says: screened against the lists and the
    /// watchlist (a match holds the payment for review).
    pub beneficiary: Option<compliance::Query>,
}

/// The caller's idempotency key and a digest of the request it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub tenant_id: String,
    pub key: String,
    pub request_hash: String,
}

/// What `create_payment` answers (the API's 202 body), the first time and on every replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub id: String,
    pub status: PaymentStatus,
    pub replayed: bool,
}

impl Accepted {
    pub fn to_json(&self) -> serde_json::Value {
        json!({"id": self.id, "status": self.status.as_str()})
    }
}

/// How a payment was stored.
enum Outcome {
    /// Stored now, with the payment as stored.
    Stored(Accepted, Box<PaymentRecord>),
    /// The idempotency key was already taken (by a concurrent or earlier request).
    KeyTaken,
}

/// A payment as shown: pending or awaiting approval and held by an open review alert is
/// `held_for_review`.
pub(crate) fn get_payment(
    sql: &mut dyn Sql,
    id: &str,
) -> Result<Option<PaymentRecord>, GatewayError> {
    // One statement: callers read it as a one-statement read.
    let row = sql.query_opt(
        &format!(
            "SELECT {}, CASE WHEN {} THEN 1 ELSE 0 END AS review_hold FROM payments WHERE id = $1",
            PaymentRecord::COLUMNS,
            compliance::alerts::holds_sql("payments.id")
        ),
        &[id.into()],
    )?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut payment = PaymentRecord::from_row(&row)?;
    if matches!(
        payment.status,
        PaymentStatus::Pending | PaymentStatus::AwaitingApproval
    ) && row.bool("review_hold")?
    {
        payment.status = PaymentStatus::HeldForReview;
    }
    Ok(Some(payment))
}

/// Idempotent answers deleted per step.
const IDEMPOTENCY_PRUNE_ROWS: i64 = 500;

/// Deletes at most [`IDEMPOTENCY_PRUNE_ROWS`] idempotent answers first given before
/// `cutoff_ms`, oldest first; returns how many went.
pub(crate) fn prune_idempotency(sql: &mut dyn Sql, cutoff_ms: i64) -> Result<u64, StoreError> {
    sql.execute(
        "DELETE FROM idempotency_keys WHERE (tenant_id, idempotency_key) IN \
         (SELECT tenant_id, idempotency_key FROM idempotency_keys WHERE created_at_ms < $1 \
         ORDER BY created_at_ms LIMIT $2)",
        &[Value::Int(cutoff_ms), Value::Int(IDEMPOTENCY_PRUNE_ROWS)],
    )
}

/// A stored first answer for this key: the same request replays it, another is refused.
fn replay(sql: &mut dyn Sql, idem: &Idempotency) -> Result<Option<Accepted>, GatewayError> {
    let Some(row) = sql.query_opt(
        "SELECT request_hash, response_body FROM idempotency_keys \
         WHERE tenant_id = $1 AND idempotency_key = $2",
        &[idem.tenant_id.as_str().into(), idem.key.as_str().into()],
    )?
    else {
        return Ok(None);
    };
    if row.text("request_hash")? != idem.request_hash {
        return Err(GatewayError::IdempotencyMismatch);
    }
    let body: serde_json::Value =
        serde_json::from_str(row.text("response_body")?).map_err(|e| {
            GatewayError::Store(StoreError::Decode {
                column: "response_body".into(),
                detail: e.to_string(),
            })
        })?;
    let status = body["status"]
        .as_str()
        .and_then(PaymentStatus::parse)
        .ok_or_else(|| {
            GatewayError::Store(StoreError::Decode {
                column: "response_body".into(),
                detail: "stored response without a status".into(),
            })
        })?;
    Ok(Some(Accepted {
        id: body["id"].as_str().unwrap_or_default().to_string(),
        status,
        replayed: true,
    }))
}

impl Gateway {
    /// The default maximum routing fee for `amount_msat`.
    fn default_max_fee_msat(&self, amount_msat: u64) -> u64 {
        let config = &self.inner.config;
        (amount_msat.saturating_mul(config.default_max_fee_ppm) / 1_000_000)
            .max(config.default_max_fee_floor_msat)
    }

    pub async fn create_payment(
        &self,
        actor: &Actor,
        new: NewPayment,
        idempotency: Option<Idempotency>,
    ) -> Result<Accepted, GatewayError> {
        if let Some(idem) = idempotency.clone() {
            let found = self
                .inner
                .store
                .read_one(move |sql| replay(sql, &idem))
                .await?;
            if let Some(first) = found {
                return Ok(first);
            }
        }
        let invoice = decode_invoice(&new.bolt11)?;
        let account = self.customer_account(&actor.scope, &new.account_id).await?;
        let amount_msat = match (invoice.amount_msat, new.amount_msat) {
            (Some(invoiced), Some(given)) if given != invoiced => {
                return Err(GatewayError::AmountMismatch { given, invoiced })
            }
            (Some(invoiced), _) => invoiced,
            (None, Some(given)) => given,
            (None, None) => return Err(GatewayError::AmountRequired),
        };
        let max_fee_msat = new
            .max_fee_msat
            .unwrap_or_else(|| self.default_max_fee_msat(amount_msat));
        let rate = self.eur_rate();
        let draft = PaymentDraft {
            account,
            bolt11: new.bolt11.trim().to_string(),
            invoice,
            amount_msat,
            max_fee_msat,
            initiator: actor.origin.actor_id.clone(),
            initiator_person: actor.identity.clone(),
            eur_cents: rate.eur_cents(amount_msat),
            rate,
            beneficiary: new.beneficiary,
        };
        let checked = self.inner.pipeline.run(&draft).await?;
        let pipeline = self.inner.pipeline.clone();
        let ids = (
            self.new_id("pay"),
            self.new_id("hold"),
            self.new_id("evt"),
            self.new_id("evt"),
        );
        let now = self.now_ms();
        let (idem, actor) = (idempotency.clone(), actor.clone());
        let stored = self
            .inner
            .store
            .write(move |sql| {
                let decided = (&pipeline, &checked);
                let outcome = store_payment(sql, &draft, decided, idem.as_ref(), ids, now)?;
                if let Outcome::Stored(accepted, _) = &outcome {
                    let tenant = Some(draft.account.tenant_id.as_str());
                    let details = Some(format!("status={}", accepted.status.as_str()));
                    actor.audit(sql, now, tenant, "payment.create", &accepted.id, details)?;
                }
                Ok(outcome)
            })
            .await;
        // A monitoring rule blocked it: nothing of the payment was stored; its alert is.
        let stored = match stored {
            Err(GatewayError::Compliance(compliance::ComplianceError::BlockedBy(alert))) => {
                self.record_blocked(*alert).await?;
                return Err(compliance::ComplianceError::Blocked.into());
            }
            other => other,
        };
        // A concurrent duplicate may have paid the invoice first: its answer is ours.
        let outcome = match (stored, idempotency.clone()) {
            (Err(e @ (GatewayError::AlreadyPaid | GatewayError::InvoiceExpired)), Some(idem)) => {
                match self
                    .inner
                    .store
                    .read_one(move |sql| replay(sql, &idem))
                    .await?
                {
                    Some(first) => return Ok(first),
                    None => return Err(e),
                }
            }
            (stored, _) => stored?,
        };
        let accepted = match outcome {
            Outcome::Stored(accepted, payment) => {
                self.inner.pipeline.committed(&payment.account_id);
                if payment.status.is_final() {
                    self.payment_finished(&payment, now);
                    if payment.status == PaymentStatus::Succeeded {
                        observe::invoice_paid("internal", payment.amount_msat);
                    }
                }
                accepted
            }
            Outcome::KeyTaken => {
                let idem = idempotency.expect("only a keyed request can find its key taken");
                return self
                    .inner
                    .store
                    .read_one(move |sql| replay(sql, &idem))
                    .await?
                    .ok_or(GatewayError::Store(StoreError::NotFound));
            }
        };
        if accepted.status == PaymentStatus::Pending {
            self.spawn_execution(accepted.id.clone());
        }
        Ok(accepted)
    }

    pub async fn payment(&self, scope: &Scope, id: &str) -> Result<PaymentRecord, GatewayError> {
        let id_owned = id.to_string();
        match self
            .inner
            .store
            .read_one(move |sql| get_payment(sql, &id_owned))
            .await?
        {
            Some(p) if scope.allows(&p.tenant_id) => Ok(p),
            _ => Err(GatewayError::UnknownPayment(id.to_string())),
        }
    }
}

/// Records a payment as the pipeline decides, in the caller's transaction: the payer's
/// row is locked first, then the stages' `in_tx` phase has the last word.
fn store_payment(
    sql: &mut dyn Sql,
    draft: &PaymentDraft,
    (pipeline, checked): (&Pipeline, &Checked),
    idem: Option<&Idempotency>,
    (payment_id, hold_id, event_id, second_event_id): (String, String, String, String),
    now: i64,
) -> Result<Outcome, GatewayError> {
    // Our own open invoice: settle inside the ledger, no Lightning.
    let own = invoice_by_hash(sql, &draft.invoice.payment_hash)?;
    // Settled by what we issued, never by what the payer sends: a forged invoice that
    // reuses our payment hash (its own amount, payee and signature) is refused.
    if own
        .as_ref()
        .is_some_and(|invoice| !same_invoice(&draft.bolt11, &invoice.bolt11))
    {
        return Err(GatewayError::InvoiceMismatch);
    }
    let internal = match &own {
        Some(invoice) if invoice.status == InvoiceStatus::Open => true,
        Some(invoice) if invoice.status == InvoiceStatus::Paid => {
            return Err(GatewayError::AlreadyPaid)
        }
        Some(_) => return Err(GatewayError::InvoiceExpired),
        None => false,
    };
    // The customer's row before the account's (see `lock_customer_of`).
    compliance::customers::lock_customer_of(sql, &draft.account.id)?;
    ledger::lock_account(sql, &draft.account.id)?;
    let decided = pipeline.run_in_tx(sql, draft, checked, now)?;
    let verdict = &decided.verdict;
    // Held for review: recorded and its funds held like any payment waiting, but nothing
    // executes or settles it until the review alerts are released.
    let held = !decided.review.is_empty() && !matches!(verdict, Verdict::Reject { .. });
    let status = match (verdict, internal && !held) {
        (Verdict::Reject { .. }, _) => PaymentStatus::Rejected,
        (Verdict::RequireApproval { .. }, _) => PaymentStatus::AwaitingApproval,
        (Verdict::Allow | Verdict::Review { .. }, true) => PaymentStatus::Succeeded,
        (Verdict::Allow | Verdict::Review { .. }, false) => PaymentStatus::Pending,
    };
    let accepted = Accepted {
        id: payment_id.clone(),
        status: if held {
            PaymentStatus::HeldForReview
        } else {
            status
        },
        replayed: false,
    };
    if let Some(idem) = idem {
        let inserted = sql.execute(
            "INSERT INTO idempotency_keys (tenant_id, idempotency_key, request_hash, status_code, \
             response_body, created_at_ms) VALUES ($1, $2, $3, 202, $4, $5) ON CONFLICT DO NOTHING",
            &[
                idem.tenant_id.as_str().into(),
                idem.key.as_str().into(),
                idem.request_hash.as_str().into(),
                accepted.to_json().to_string().into(),
                Value::Int(now),
            ],
        )?;
        if inserted == 0 {
            return Ok(Outcome::KeyTaken);
        }
    }
    let holds = matches!(
        status,
        PaymentStatus::Pending | PaymentStatus::AwaitingApproval
    );
    let (failure_code, failure_reason) = match verdict {
        Verdict::Reject { code, reason } => (Some(code.clone()), Some(reason.clone())),
        _ => (None, None),
    };
    let inserted = sql.query_opt(
        &format!(
            "INSERT INTO payments (id, tenant_id, account_id, bolt11, payment_hash, destination, \
             amount_msat, max_fee_msat, fee_msat, status, route, hold_id, failure_code, failure_reason, \
             created_at_ms, updated_at_ms, eur_cents) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16) \
             ON CONFLICT DO NOTHING RETURNING {}",
            PaymentRecord::COLUMNS
        ),
        &[
            payment_id.as_str().into(),
            draft.account.tenant_id.as_str().into(),
            draft.account.id.as_str().into(),
            draft.bolt11.as_str().into(),
            draft.invoice.payment_hash.as_str().into(),
            draft.invoice.payee.as_str().into(),
            draft.amount_msat.into(),
            draft.max_fee_msat.into(),
            internal.then_some(0u64).into(),
            status.as_str().into(),
            if internal { "internal" } else { "lightning" }.into(),
            holds.then_some(hold_id.as_str()).into(),
            failure_code.into(),
            failure_reason.into(),
            Value::Int(now),
            draft.eur_cents.into(),
        ],
    )?;
    // The partial unique index allows one live payment per invoice.
    let Some(row) = inserted else {
        return Err(GatewayError::AlreadyPaid);
    };
    let mut payment = PaymentRecord::from_row(&row)?;
    if held {
        for (i, alert) in decided.review.iter().enumerate() {
            let alert_id = format!("alr_{}_{i}", payment.id);
            compliance::alerts::insert(sql, &alert_id, alert, Some(&payment.id), None, now)?;
        }
        payment.status = PaymentStatus::HeldForReview;
    }
    if holds {
        // Checked here too, not only in the validate stage: a hold is where money moves.
        let held_msat = draft
            .amount_msat
            .checked_add(draft.max_fee_msat)
            .filter(|total| *total <= ledger::MAX_MONEY_MSAT)
            .ok_or(GatewayError::InvalidField {
                field: "max_fee_msat",
                reason: "amount plus maximum fee exceeds 21 million BTC".into(),
            })?;
        place_hold(
            sql,
            &hold_id,
            &draft.account.id,
            held_msat,
            &payment_id,
            now,
        )?;
    }
    if let Verdict::RequireApproval { ticket, .. } = verdict {
        let intent = approvals::Intent {
            payment_id: payment.id.clone(),
            operation: approvals::Operation::Payment,
            amount_msat: payment.amount_msat,
            destination: draft.invoice.payee.clone(),
            payment_hash: draft.invoice.payment_hash.clone(),
            subject: String::new(),
            expires_at_ms: 0,
        };
        controls::requests::open(
            sql,
            &payment.tenant_id,
            (&draft.initiator, &draft.initiator_person),
            intent,
            ticket,
            now,
        )?;
    }
    if let (true, Some(invoice)) = (internal && status == PaymentStatus::Succeeded, &own) {
        let amount = draft.amount_msat as i64;
        let paid = mark_paid(
            sql,
            invoice,
            draft.amount_msat,
            [
                Posting::new(&invoice.account_id, "internal", amount),
                Posting::new(&draft.account.id, "internal", -amount),
            ],
            &second_event_id,
            now,
            PaidBy::Ledger,
        )?;
        // Paid meanwhile (an outsider's payment committed first): refuse, roll back all.
        if !paid {
            return Err(GatewayError::AlreadyPaid);
        }
    }
    let event_type = match status {
        PaymentStatus::Succeeded => "payment.succeeded",
        PaymentStatus::Rejected => "payment.rejected",
        _ => "payment.created",
    };
    outbox::emit(
        sql,
        &event_id,
        &payment.tenant_id,
        event_type,
        payment.to_json(),
        now,
    )?;
    Ok(Outcome::Stored(accepted, Box::new(payment)))
}

/// Whether the payer's BOLT11 is the invoice we issued (bech32 is case-insensitive).
pub(crate) fn same_invoice(given: &str, issued: &str) -> bool {
    given.trim().eq_ignore_ascii_case(issued.trim())
}

#[cfg(test)]
#[path = "idempotency_prune_tests.rs"]
mod idempotency_prune_tests;
