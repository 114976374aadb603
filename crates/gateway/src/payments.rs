//! Outgoing payments: pending → in_flight → succeeded | failed (with awaiting_approval and
//! rejected from the pipeline). Creating one runs the decision stages, then in one
//! transaction records the payment, the idempotency key and the ledger hold (or, for one of
//! our own invoices, settles it inside the ledger). Execution is asynchronous: the node is
//! chosen and told to pay after the payment is durably in flight, so a crash at any point
//! either finds the payment pending (never sent) or in flight (ask the node).

use audit::AuditAction;
use std::sync::Arc;

use tracing::Instrument;

use ledger::{place_hold, release_hold, settle_hold, JournalEntry, Posting};
use node_pool::{decode_invoice, NodeError, PaymentState};
use serde_json::json;
use store::{Sql, StoreError, Value};

use crate::invoices::{invoice_by_hash, mark_paid, PaidBy};
use crate::pipeline::{Checked, PaymentDraft, Pipeline, Verdict};
use crate::records::{InvoiceStatus, PaymentRecord, PaymentStatus};
use crate::system::node_account;
use crate::{observe, Actor, Gateway, GatewayError, Scope};

#[derive(Debug, Clone)]
pub struct NewPayment {
    pub account_id: String,
    pub bolt11: String,
    /// Required for an invoice without an amount; must match an invoice's amount if given.
    pub amount_msat: Option<u64>,
    pub max_fee_msat: Option<u64>,
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

fn get_payment(sql: &mut dyn Sql, id: &str) -> Result<Option<PaymentRecord>, GatewayError> {
    let row = sql.query_opt(
        &format!(
            "SELECT {} FROM payments WHERE id = $1",
            PaymentRecord::COLUMNS
        ),
        &[id.into()],
    )?;
    Ok(row.as_ref().map(PaymentRecord::from_row).transpose()?)
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
            let found = self.inner.store.read(move |sql| replay(sql, &idem)).await?;
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
        // A concurrent duplicate may have paid the invoice first: its answer is ours.
        let outcome = match (stored, idempotency.clone()) {
            (Err(e @ (GatewayError::AlreadyPaid | GatewayError::InvoiceExpired)), Some(idem)) => {
                match self.inner.store.read(move |sql| replay(sql, &idem)).await? {
                    Some(first) => return Ok(first),
                    None => return Err(e),
                }
            }
            (stored, _) => stored?,
        };
        let accepted = match outcome {
            Outcome::Stored(accepted, payment) => {
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
                    .read(move |sql| replay(sql, &idem))
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
            .read(move |sql| get_payment(sql, &id_owned))
            .await?
        {
            Some(p) if scope.allows(&p.tenant_id) => Ok(p),
            _ => Err(GatewayError::UnknownPayment(id.to_string())),
        }
    }

    /// Executes a pending payment in the background, bounded by the execution semaphore.
    pub(crate) fn spawn_execution(&self, payment_id: String) {
        let gateway = self.clone();
        // In the caller's trace: the execution outlives the request that started it.
        let span = tracing::info_span!("payment.execute", payment_id = %payment_id);
        tokio::spawn(
            async move {
                let Ok(_permit) = Arc::clone(&gateway.inner.executions).acquire_owned().await
                else {
                    return;
                };
                if let Err(error) = gateway.execute(&payment_id).await {
                    tracing::error!(%payment_id, %error, "payment execution failed; recovery retries it");
                }
            }
            .instrument(span),
        );
    }

    /// Picks a node, records the payment in flight on it, then tells the node to pay.
    async fn execute(&self, payment_id: &str) -> Result<(), GatewayError> {
        let payment = self.payment(&Scope::All, payment_id).await?;
        if payment.status != PaymentStatus::Pending {
            return Ok(());
        }
        let node = match self
            .inner
            .pool
            .select_for_payment(payment.amount_msat, None)
        {
            Ok(node) => node,
            Err(e) => {
                let e = GatewayError::from(e);
                return self.fail(payment_id, e.code(), &e.to_string()).await;
            }
        };
        let (id, name, now) = (
            payment_id.to_string(),
            node.name().to_string(),
            self.now_ms(),
        );
        let claimed = self
            .inner
            .store
            .write(move |sql| {
                sql.execute(
                    "UPDATE payments SET status = 'in_flight', node_name = $2, updated_at_ms = $3 \
                     WHERE id = $1 AND status = 'pending'",
                    &[id.as_str().into(), name.as_str().into(), Value::Int(now)],
                )
            })
            .await?;
        if claimed == 0 {
            return Ok(());
        }
        let sent = node
            .pay_invoice(
                &payment.bolt11,
                payment.amount_override(),
                Some(payment.max_fee_msat),
            )
            .instrument(tracing::info_span!("node.pay_invoice", node = %node.name()))
            .await;
        self.after_send(payment_id, sent).await
    }

    /// Acts on a node's answer to "pay": an error that means nothing left the node fails
    /// the payment and releases its hold; success, or an error that leaves it unclear,
    /// waits for the node's events (or the next recovery).
    pub(crate) async fn after_send(
        &self,
        payment_id: &str,
        sent: Result<String, NodeError>,
    ) -> Result<(), GatewayError> {
        let code = match &sent {
            Ok(_) => return Ok(()),
            Err(NodeError::NoRouteNow) => "no_route",
            Err(NodeError::InsufficientLiquidity { .. }) => "no_liquidity",
            Err(NodeError::InvoiceExpired) => "invoice_expired",
            Err(NodeError::NotRunning) => "node_unavailable",
            Err(
                NodeError::InvalidInvoice(_)
                | NodeError::WrongNetwork { .. }
                | NodeError::AmountRequired
                | NodeError::InvalidAmount { .. },
            ) => "invalid_invoice",
            Err(e) => {
                tracing::warn!(%payment_id, error = %e, "pay call failed ambiguously; awaiting the node");
                return Ok(());
            }
        };
        // The node's own words (liquidity figures, LDK's reasons) stay in the log: the
        // payment's reason is shown to the tenant and sent in webhooks.
        if let Err(error) = &sent {
            tracing::info!(%payment_id, %error, code, "the node refused the payment");
        }
        self.fail(payment_id, code, failure_sentence(code)).await
    }

    /// Fails a pending or in-flight payment and releases its hold.
    pub(crate) async fn fail(
        &self,
        payment_id: &str,
        code: &str,
        reason: &str,
    ) -> Result<(), GatewayError> {
        let (id, code, reason) = (payment_id.to_string(), code.to_string(), reason.to_string());
        let (now, event_id) = (self.now_ms(), self.new_id("evt"));
        let failed = self
            .inner
            .store
            .write(move |sql| finish_failed(sql, Failing::Id(&id), &code, &reason, &event_id, now))
            .await?;
        if let Some(failed) = failed {
            self.payment_finished(&failed, now);
        }
        Ok(())
    }

    /// The node reports the payment with this hash succeeded: settle its hold with the
    /// actual fee (once: a repeated report finds nothing in flight).
    /// The node reports the payment with this hash succeeded. `fee_msat: None`: neither the
    /// event nor the node's record knows the routing fee; the payment is booked without
    /// one (its `fee_msat` stays null) and the books check reports it, rather than a
    /// guessed 0 hiding a difference.
    pub(crate) async fn settle_succeeded(
        &self,
        node: &str,
        payment_hash: &str,
        fee_msat: Option<u64>,
        preimage: Option<String>,
    ) -> Result<(), GatewayError> {
        let (node_name, hash) = (node.to_string(), payment_hash.to_string());
        let (now, event_id) = (self.now_ms(), self.new_id("evt"));
        let settled = self
            .inner
            .store
            .write(move |sql| -> Result<Option<PaymentRecord>, GatewayError> {
                let row = sql.query_opt(
                    &format!(
                        // The node that reports the success is the one the money left,
                        // even when the record names a later attempt on another node (or
                        // no send yet): book it there, and never send again.
                        "UPDATE payments SET status = 'succeeded', fee_msat = $2, preimage = $3, \
                         updated_at_ms = $4, node_name = $5 WHERE payment_hash = $1 \
                         AND status IN ('pending', 'in_flight') AND route = 'lightning' \
                         RETURNING {}",
                        PaymentRecord::COLUMNS
                    ),
                    &[
                        hash.as_str().into(),
                        fee_msat.into(),
                        preimage.into(),
                        Value::Int(now),
                        node_name.as_str().into(),
                    ],
                )?;
                let Some(row) = row else {
                    let booked_failed = sql
                        .query_opt(
                            "SELECT id FROM payments WHERE payment_hash = $1 AND status = 'failed' \
                             AND route = 'lightning'",
                            &[hash.as_str().into()],
                        )?
                        .is_some();
                    let settled_on = sql
                        .query_opt(
                            "SELECT node_name FROM payments WHERE payment_hash = $1 \
                             AND status = 'succeeded' AND route = 'lightning'",
                            &[hash.as_str().into()],
                        )?
                        .map(|r| r.opt_text(0).map(|n| n.unwrap_or_default().to_string()))
                        .transpose()?;
                    // Money that left a node with nothing on the books for it: an alarm
                    // for a person, never silent (a repeated report of the same success,
                    // from the node that paid, is not one).
                    let unbooked = match &settled_on {
                        None => booked_failed,
                        Some(node) => *node != node_name,
                    };
                    if unbooked {
                        tracing::error!(%hash, node = %node_name, "the node reports a success the books do not hold (booked failed, or paid by another node): reconcile by hand");
                        metrics::counter!("fulgur_payments_unbooked_successes_total").increment(1);
                    }
                    return Ok(None);
                };
                let paid = PaymentRecord::from_row(&row)?;
                let node = paid.node.clone().unwrap_or_default();
                let amount = paid.amount_msat as i64;
                // Bounded by the hold (amount + maximum fee), checked by `settle_hold`.
                let fee = i64::try_from(fee_msat.unwrap_or(0)).unwrap_or(i64::MAX);
                let mut postings = vec![
                    Posting::new(&paid.account_id, "payment", -amount),
                    Posting::new(&node_account(&node), "payment", amount + fee),
                ];
                if fee > 0 {
                    postings.push(Posting::new(&paid.account_id, "fee", -fee));
                }
                let entry = JournalEntry {
                    id: format!("pay_{}", paid.id),
                    kind: "payment".into(),
                    reference: Some(paid.id.clone()),
                    postings,
                };
                let hold = paid.hold_id.clone().unwrap_or_default();
                settle_hold(sql, &hold, &entry, now)?;
                outbox::emit(
                    sql,
                    &event_id,
                    &paid.tenant_id,
                    "payment.succeeded",
                    paid.to_json(),
                    now,
                )?;
                Ok(Some(paid))
            })
            .await?;
        if let Some(paid) = settled {
            self.payment_finished(&paid, now);
        }
        Ok(())
    }

    /// The node reports the payment with this hash failed for good.
    pub(crate) async fn fail_by_hash(
        &self,
        node: &str,
        payment_hash: &str,
        reason: &str,
    ) -> Result<(), GatewayError> {
        // The node's reason (LDK's words) goes to the log; the tenant reads ours.
        tracing::info!(%node, %payment_hash, reason, "the node reports the payment failed");
        let (node, hash) = (node.to_string(), payment_hash.to_string());
        let reason = "the network could not deliver the payment".to_string();
        let (now, event_id) = (self.now_ms(), self.new_id("evt"));
        let failed = self
            .inner
            .store
            .write(move |sql| {
                finish_failed(
                    sql,
                    Failing::InFlightOn {
                        node: &node,
                        payment_hash: &hash,
                    },
                    "payment_failed",
                    &reason,
                    &event_id,
                    now,
                )
            })
            .await?;
        if let Some(failed) = failed {
            self.payment_finished(&failed, now);
        }
        Ok(())
    }

    /// Resumes what a crash interrupted: unfinished payments are reconciled (bounded
    /// rounds, `reconcile.rs`); open invoices a node was paid are credited.
    pub(crate) async fn recover(&self) -> Result<(), GatewayError> {
        self.reconcile_at_start().await?;
        self.recover_invoices().await
    }

    /// Credits invoices a node was paid while the gateway was down: the open ones, and
    /// those that expired or were canceled within the last day (money can still arrive
    /// for them), in pages; never the whole history. One that cannot be credited is
    /// logged, and start goes on.
    async fn recover_invoices(&self) -> Result<(), GatewayError> {
        const PAGE: i64 = 1_000;
        const LATE_MONEY_MS: i64 = 24 * 3_600_000;
        let since = self.now_ms() - LATE_MONEY_MS;
        let mut after = String::new();
        loop {
            let cursor = after.clone();
            let page: Vec<(String, String, String)> = self
                .inner
                .store
                .read(
                    move |sql| -> Result<Vec<(String, String, String)>, GatewayError> {
                        let rows = sql.query(
                            "SELECT id, node_name, payment_hash FROM invoices WHERE id > $1 \
                         AND (status = 'open' OR (status IN ('expired', 'canceled') \
                         AND expires_at_ms >= $2)) ORDER BY id LIMIT $3",
                            &[cursor.as_str().into(), Value::Int(since), Value::Int(PAGE)],
                        )?;
                        Ok(rows
                            .iter()
                            .filter_map(|r| {
                                Some((
                                    r.text(0).ok()?.to_string(),
                                    r.text(1).ok()?.to_string(),
                                    r.text(2).ok()?.to_string(),
                                ))
                            })
                            .collect())
                    },
                )
                .await?;
            let Some((last, _, _)) = page.last() else {
                return Ok(());
            };
            after = last.clone();
            for (id, node_name, hash) in &page {
                let Ok(node) = self.inner.pool.get(node_name) else {
                    continue;
                };
                let Some(info) = node.payment(hash) else {
                    continue;
                };
                if info.direction == node_pool::PaymentDirection::Inbound
                    && info.state == PaymentState::Succeeded
                {
                    let amount = info.amount_msat.unwrap_or(0);
                    if let Err(error) = self.credit_received(node_name, hash, amount).await {
                        tracing::error!(invoice = %id, %error, "a paid invoice not credited at start");
                    }
                }
            }
            if (page.len() as i64) < PAGE {
                return Ok(());
            }
        }
    }
}

/// What a tenant reads about a payment the node refused: fixed, per code.
fn failure_sentence(code: &str) -> &'static str {
    match code {
        "no_route" => "no route could carry the payment",
        "no_liquidity" => "no node of ours can send this amount now",
        "invoice_expired" => "the invoice expired",
        "node_unavailable" => "the node chosen to pay was not running",
        "invalid_invoice" => "the node refused the invoice",
        _ => "the payment failed",
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
    ledger::lock_account(sql, &draft.account.id)?;
    let verdict = &pipeline.run_in_tx(sql, draft, checked, now)?;
    let status = match (verdict, internal) {
        (Verdict::Reject { .. }, _) => PaymentStatus::Rejected,
        (Verdict::RequireApproval { .. }, _) => PaymentStatus::AwaitingApproval,
        (Verdict::Allow, true) => PaymentStatus::Succeeded,
        (Verdict::Allow, false) => PaymentStatus::Pending,
    };
    let accepted = Accepted {
        id: payment_id.clone(),
        status,
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
    let payment = PaymentRecord::from_row(&row)?;
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
        crate::approval_requests::open_request(
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
fn same_invoice(given: &str, issued: &str) -> bool {
    given.trim().eq_ignore_ascii_case(issued.trim())
}

/// Settles an approved payment to one of our own open invoices inside the ledger: the
/// hold is released and the invoice paid from the payer's account, no Lightning. If the
/// invoice was paid meanwhile (by an outsider), the payment fails instead.
pub(crate) fn settle_internal(
    sql: &mut dyn Sql,
    payment: &PaymentRecord,
    (paid_event, payment_event): &(String, String),
    now: i64,
) -> Result<Box<PaymentRecord>, GatewayError> {
    if let Some(hold) = &payment.hold_id {
        release_hold(sql, hold, now)?;
    }
    let invoice = invoice_by_hash(sql, &payment.payment_hash)?;
    let paid = match &invoice {
        Some(invoice)
            if same_invoice(&payment.bolt11, &invoice.bolt11)
                && payment.amount_msat == invoice.amount_msat =>
        {
            let amount = payment.amount_msat as i64;
            mark_paid(
                sql,
                invoice,
                payment.amount_msat,
                [
                    Posting::new(&invoice.account_id, "internal", amount),
                    Posting::new(&payment.account_id, "internal", -amount),
                ],
                paid_event,
                now,
                PaidBy::Ledger,
            )?
        }
        _ => false,
    };
    let (status, code, reason) = match &invoice {
        _ if paid => ("succeeded", None, None),
        Some(invoice) if invoice.status == InvoiceStatus::Paid => (
            "failed",
            Some("invoice_already_paid"),
            Some("the invoice was paid while the payment awaited approval"),
        ),
        _ => (
            "failed",
            Some("invoice_not_open"),
            Some("the invoice was canceled or expired while the payment awaited approval"),
        ),
    };
    let row = sql.query_one(
        &format!(
            "UPDATE payments SET status = $2, fee_msat = 0, failure_code = $3, \
             failure_reason = $4, updated_at_ms = $5 WHERE id = $1 RETURNING {}",
            PaymentRecord::COLUMNS
        ),
        &[
            payment.id.as_str().into(),
            status.into(),
            code.into(),
            reason.into(),
            Value::Int(now),
        ],
    )?;
    let settled = PaymentRecord::from_row(&row)?;
    let event_type = if paid {
        "payment.succeeded"
    } else {
        "payment.failed"
    };
    outbox::emit(
        sql,
        payment_event,
        &settled.tenant_id,
        event_type,
        settled.to_json(),
        now,
    )?;
    Ok(Box::new(settled))
}

/// Which payment a failure is for.
#[derive(Debug, Clone, Copy)]
enum Failing<'a> {
    /// Ours, by id, pending or in flight (a send refused, an approval rejected).
    Id(&'a str),
    /// A node's report: only the payment in flight **on that node** with the hash. A stale
    /// or redelivered failure of an earlier attempt on another node must not fail the
    /// attempt in flight now (and release its hold while it still pays).
    InFlightOn {
        node: &'a str,
        payment_hash: &'a str,
    },
}

/// Fails the live payment `which` names, releasing its hold; `None` if there was none
/// (already final: a repeated report; or another node's attempt).
fn finish_failed(
    sql: &mut dyn Sql,
    which: Failing<'_>,
    code: &str,
    reason: &str,
    event_id: &str,
    now: i64,
) -> Result<Option<PaymentRecord>, GatewayError> {
    let set = "UPDATE payments SET status = 'failed', failure_code = $2, failure_reason = $3, \
               updated_at_ms = $4";
    let row = match which {
        Failing::Id(id) => sql.query_opt(
            &format!(
                "{set} WHERE id = $1 AND status IN ('pending', 'in_flight') RETURNING {}",
                PaymentRecord::COLUMNS
            ),
            &[id.into(), code.into(), reason.into(), Value::Int(now)],
        )?,
        Failing::InFlightOn { node, payment_hash } => sql.query_opt(
            &format!(
                "{set} WHERE payment_hash = $1 AND status = 'in_flight' AND node_name = $5 \
                 RETURNING {}",
                PaymentRecord::COLUMNS
            ),
            &[
                payment_hash.into(),
                code.into(),
                reason.into(),
                Value::Int(now),
                node.into(),
            ],
        )?,
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let failed = PaymentRecord::from_row(&row)?;
    if let Some(hold) = &failed.hold_id {
        release_hold(sql, hold, now)?;
    }
    outbox::emit(
        sql,
        event_id,
        &failed.tenant_id,
        "payment.failed",
        failed.to_json(),
        now,
    )?;
    Ok(Some(failed))
}
