//! Settling payments from what the nodes report: a success settles the hold with the
//! actual fee on the node the money left; a failure releases it (matched by hash and
//! node, so a stale failure never fails a live attempt); an approved payment to one of our
//! own invoices settles inside the ledger.

use ledger::{release_hold, settle_hold, JournalEntry, Posting};
use store::{Sql, Value};

use crate::invoices::{invoice_by_hash, mark_paid, PaidBy};
use crate::payments::same_invoice;
use crate::records::{InvoiceStatus, PaymentRecord, UNFINISHED};
use crate::system::node_account;
use crate::{Gateway, GatewayError};

impl Gateway {
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
                         AND {UNFINISHED} AND route = 'lightning' RETURNING {}",
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
                        .map(|r| r.opt_text("node_name").map(|n| n.unwrap_or_default().to_string()))
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
}

/// What a tenant reads about a payment the node refused: fixed, per code.
pub(crate) fn failure_sentence(code: &str) -> &'static str {
    match code {
        "no_route" => "no route could carry the payment",
        "no_liquidity" => "no node of ours can send this amount now",
        "invoice_expired" => "the invoice expired",
        "node_unavailable" => "the node chosen to pay was not running",
        "invalid_invoice" => "the node refused the invoice",
        _ => "the payment failed",
    }
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
pub(crate) enum Failing<'a> {
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
pub(crate) fn finish_failed(
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
                "{set} WHERE id = $1 AND {UNFINISHED} RETURNING {}",
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

/// Which payments waiting for a decision a rejection may end.
#[derive(Clone, Copy)]
pub(crate) enum Waiting {
    /// Awaiting its approvers.
    Approval,
    /// Held by a compliance review: pending or awaiting its approvers.
    Review,
}

/// Rejects a payment still waiting as `waiting` says, releasing its hold; `None` if it
/// no longer waits (decided meanwhile).
pub(crate) fn reject_waiting(
    sql: &mut dyn Sql,
    payment_id: &str,
    waiting: Waiting,
    (code, reason): (&str, &str),
    event_id: &str,
    now: i64,
) -> Result<Option<PaymentRecord>, GatewayError> {
    let statuses = match waiting {
        Waiting::Approval => "'awaiting_approval'",
        Waiting::Review => "'pending', 'awaiting_approval'",
    };
    let row = sql.query_opt(
        &format!(
            "UPDATE payments SET status = 'rejected', failure_code = $2, failure_reason = $3, \
             updated_at_ms = $4 WHERE id = $1 AND status IN ({statuses}) RETURNING {}",
            PaymentRecord::COLUMNS
        ),
        &[
            payment_id.into(),
            code.into(),
            reason.into(),
            Value::Int(now),
        ],
    )?;
    let Some(row) = row else {
        return Ok(None);
    };
    let payment = PaymentRecord::from_row(&row)?;
    if let Some(hold) = &payment.hold_id {
        release_hold(sql, hold, now)?;
    }
    outbox::emit(
        sql,
        event_id,
        &payment.tenant_id,
        "payment.rejected",
        payment.to_json(),
        now,
    )?;
    Ok(Some(payment))
}
