//! Invoices: open → paid | expired | canceled. The pool nodes that can receive the amount
//! issue invoices in turn; the payment that pays it credits its account exactly once.

use audit::AuditAction;
use ledger::{post, JournalEntry, Posting};
use store::{Sql, Value};
use tracing::Instrument;

use crate::inbound::{record_hold, Receipt};
use crate::records::{InvoiceRecord, InvoiceStatus};
use crate::system::{node_account, SUSPENSE_ACCOUNT, UNATTRIBUTED_ACCOUNT};
use crate::{observe, Actor, Gateway, GatewayError, Scope};

/// Most invoices one expiry sweep closes.
const EXPIRY_BATCH: u32 = 500;

#[derive(Debug, Clone)]
pub struct NewInvoice {
    pub account_id: String,
    pub amount_msat: u64,
    pub description: String,
    pub expiry_secs: Option<u32>,
    /// Who is expected to pay, when the receiver knows: screened when the payment
    /// arrives (a match holds it in suspense for review).
    pub payer: Option<compliance::Query>,
}

pub(crate) fn get_invoice(
    sql: &mut dyn Sql,
    id: &str,
) -> Result<Option<InvoiceRecord>, GatewayError> {
    let row = sql.query_opt(
        &format!(
            "SELECT {} FROM invoices WHERE id = $1",
            InvoiceRecord::COLUMNS
        ),
        &[id.into()],
    )?;
    Ok(row.as_ref().map(InvoiceRecord::from_row).transpose()?)
}

pub(crate) fn invoice_by_hash(
    sql: &mut dyn Sql,
    payment_hash: &str,
) -> Result<Option<InvoiceRecord>, GatewayError> {
    let row = sql.query_opt(
        &format!(
            "SELECT {} FROM invoices WHERE payment_hash = $1",
            InvoiceRecord::COLUMNS
        ),
        &[payment_hash.into()],
    )?;
    Ok(row.as_ref().map(InvoiceRecord::from_row).transpose()?)
}

/// Who pays an invoice, which decides the states it may be paid from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PaidBy {
    /// Money that arrived over Lightning: any state but paid, since money that arrives
    /// for an expired or canceled invoice is still the account's money.
    Lightning,
    /// One of our accounts, inside the ledger: only an open invoice (an invoice canceled
    /// or expired meanwhile takes no internal money).
    Ledger,
}

/// Marks the invoice paid and credits its account, in the caller's transaction. Returns
/// false if it was already paid (a repeated event) or, paid by the ledger, no longer
/// open: nothing is credited twice.
pub(crate) fn mark_paid(
    sql: &mut dyn Sql,
    invoice: &InvoiceRecord,
    received_msat: u64,
    // The invoice's account credited, and what pays it.
    [credit, counter]: [Posting; 2],
    event_id: &str,
    now_ms: i64,
    by: PaidBy,
) -> Result<bool, GatewayError> {
    let from = match by {
        PaidBy::Lightning => "status <> 'paid'",
        PaidBy::Ledger => "status = 'open'",
    };
    let changed = sql.query_opt(
        &format!(
            "UPDATE invoices SET status = 'paid', received_msat = $2, paid_at_ms = $3 \
             WHERE id = $1 AND {from} RETURNING {}",
            InvoiceRecord::COLUMNS
        ),
        &[
            invoice.id.as_str().into(),
            received_msat.into(),
            Value::Int(now_ms),
        ],
    )?;
    let Some(row) = changed else {
        return Ok(false);
    };
    let paid = InvoiceRecord::from_row(&row)?;
    post(
        sql,
        &JournalEntry {
            id: format!("inv_{}", invoice.id),
            kind: "invoice_paid".into(),
            reference: Some(invoice.id.clone()),
            postings: vec![credit, counter],
        },
        now_ms,
    )?;
    outbox::emit(
        sql,
        event_id,
        &paid.tenant_id,
        "invoice.paid",
        paid.to_json(),
        now_ms,
    )?;
    Ok(true)
}

/// What one expiry sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    pub expired: usize,
    /// Open invoices past their expiry still waiting for the next sweep.
    pub backlog: u64,
}

impl Gateway {
    pub async fn create_invoice(
        &self,
        actor: &Actor,
        new: NewInvoice,
    ) -> Result<InvoiceRecord, GatewayError> {
        let config = &self.inner.config;
        if new.amount_msat == 0 || new.amount_msat > ledger::MAX_MONEY_MSAT {
            return Err(GatewayError::InvalidField {
                field: "amount_msat",
                reason: "must be between 1 and 2.1e18".into(),
            });
        }
        if new.description.len() > config.max_description_bytes {
            return Err(GatewayError::InvalidField {
                field: "description",
                reason: format!("at most {} bytes", config.max_description_bytes),
            });
        }
        let expiry_secs = new
            .expiry_secs
            .unwrap_or(config.default_invoice_expiry_secs);
        if expiry_secs == 0 || expiry_secs > config.max_invoice_expiry_secs {
            return Err(GatewayError::InvalidField {
                field: "expiry_secs",
                reason: format!("must be between 1 and {}", config.max_invoice_expiry_secs),
            });
        }
        let account = self.customer_account(&actor.scope, &new.account_id).await?;
        let node = self
            .inner
            .pool
            .select_for_receiving(new.amount_msat)
            .map_err(|e| match e {
                node_pool::PoolError::NoCapacity {
                    amount_msat,
                    best_available_msat,
                } => GatewayError::NoLiquidity {
                    action: "receive",
                    amount_msat,
                    best_available_msat,
                },
                other => other.into(),
            })?;
        let started = std::time::Instant::now();
        let issued = node
            .create_invoice(new.amount_msat, &new.description, expiry_secs)
            .instrument(tracing::info_span!("node.create_invoice", node = %node.name()))
            .await?;
        let now = self.now_ms();
        let payer = new.payer;
        let record = InvoiceRecord {
            id: self.new_id("inv"),
            tenant_id: account.tenant_id,
            account_id: account.id,
            node: node.name().to_string(),
            payment_hash: issued.payment_hash,
            bolt11: issued.bolt11,
            amount_msat: issued.amount_msat,
            description: new.description,
            status: InvoiceStatus::Open,
            expires_at_ms: i64::try_from(issued.expires_at_unix_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            received_msat: None,
            paid_at_ms: None,
            created_at_ms: now,
        };
        let event_id = self.new_id("evt");
        let stored = record.clone();
        let actor = actor.clone();
        self.inner
            .store
            .write(move |sql| -> Result<(), GatewayError> {
                let r = &stored;
                sql.execute_pipelined(
                    "INSERT INTO invoices (id, tenant_id, account_id, node_name, payment_hash, bolt11, \
                     amount_msat, description, status, expires_at_ms, created_at_ms, payer_name, \
                     payer_kind, payer_country, payer_birth_year) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11, $12, $13, $14)",
                    &[
                        r.id.as_str().into(),
                        r.tenant_id.as_str().into(),
                        r.account_id.as_str().into(),
                        r.node.as_str().into(),
                        r.payment_hash.as_str().into(),
                        r.bolt11.as_str().into(),
                        r.amount_msat.into(),
                        r.description.as_str().into(),
                        Value::Int(r.expires_at_ms),
                        Value::Int(r.created_at_ms),
                        payer.as_ref().map_or(Value::Null, |p| p.name.as_str().into()),
                        payer.as_ref().map_or(Value::Null, |p| p.kind.as_str().into()),
                        payer
                            .as_ref()
                            .and_then(|p| p.country.as_deref())
                            .map_or(Value::Null, Value::from),
                        payer
                            .as_ref()
                            .and_then(|p| p.birth_year)
                            .map_or(Value::Null, |y| Value::Int(i64::from(y))),
                    ],
                )?;
                outbox::emit(sql, &event_id, &r.tenant_id, "invoice.created", r.to_json(), now)?;
                actor.audit(sql, now, Some(&r.tenant_id), "invoice.create", &r.id, None)?;
                Ok(())
            })
            .await?;
        self.invoice_created(&record.node, started.elapsed(), now);
        Ok(record)
    }

    pub async fn invoice(&self, scope: &Scope, id: &str) -> Result<InvoiceRecord, GatewayError> {
        let id_owned = id.to_string();
        let found = self
            .inner
            .store
            .read_one(move |sql| get_invoice(sql, &id_owned))
            .await?;
        match found {
            Some(invoice) if scope.allows(&invoice.tenant_id) => Ok(invoice),
            _ => Err(GatewayError::UnknownInvoice(id.to_string())),
        }
    }

    /// Cancels an open invoice. Lightning cannot take back a published invoice: if it is
    /// paid anyway, the money is still credited and the invoice shows paid.
    pub async fn cancel_invoice(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<InvoiceRecord, GatewayError> {
        let invoice = self.invoice(&actor.scope, id).await?;
        let (now, event_id, actor) = (self.now_ms(), self.new_id("evt"), actor.clone());
        let id = invoice.id.clone();
        self.inner
            .store
            .write(move |sql| -> Result<InvoiceRecord, GatewayError> {
                let row = sql.query_opt(
                    &format!(
                        "UPDATE invoices SET status = 'canceled' WHERE id = $1 AND status = 'open' \
                         RETURNING {}",
                        InvoiceRecord::COLUMNS
                    ),
                    &[id.as_str().into()],
                )?;
                let Some(row) = row else {
                    let current = get_invoice(sql, &id)?
                        .ok_or_else(|| GatewayError::UnknownInvoice(id.clone()))?;
                    return Err(GatewayError::InvoiceNotOpen {
                        id: id.clone(),
                        status: current.status.as_str().to_string(),
                    });
                };
                let canceled = InvoiceRecord::from_row(&row)?;
                outbox::emit(
                    sql,
                    &event_id,
                    &canceled.tenant_id,
                    "invoice.canceled",
                    canceled.to_json(),
                    now,
                )?;
                let tenant = Some(canceled.tenant_id.as_str());
                actor.audit(sql, now, tenant, "invoice.cancel", &canceled.id, None)?;
                Ok(canceled)
            })
            .await
    }

    /// Marks open invoices past their expiry as expired (one bounded batch); says how many,
    /// and how many more are due (counted only when the batch was full).
    pub async fn expire_invoices(&self) -> Result<Expired, GatewayError> {
        let now = self.now_ms();
        let ids = self.inner.ids.clone();
        self.inner
            .store
            .write(move |sql| -> Result<Expired, GatewayError> {
                let rows = sql.query(
                    &format!(
                        "UPDATE invoices SET status = 'expired' WHERE id IN \
                         (SELECT id FROM invoices WHERE status = 'open' AND expires_at_ms <= $1 \
                          ORDER BY expires_at_ms LIMIT $2) RETURNING {}",
                        InvoiceRecord::COLUMNS
                    ),
                    &[Value::Int(now), EXPIRY_BATCH.into()],
                )?;
                for row in &rows {
                    let expired = InvoiceRecord::from_row(row)?;
                    outbox::emit(
                        sql,
                        &ids.next_id("evt"),
                        &expired.tenant_id,
                        "invoice.expired",
                        expired.to_json(),
                        now,
                    )?;
                }
                let backlog = if rows.len() < EXPIRY_BATCH as usize {
                    0
                } else {
                    sql.query_one(
                        "SELECT COUNT(*) AS backlog FROM invoices WHERE status = 'open' AND expires_at_ms <= $1",
                        &[Value::Int(now)],
                    )?
                    .i64("backlog")?
                };
                Ok(Expired {
                    expired: rows.len(),
                    backlog: u64::try_from(backlog).unwrap_or(0),
                })
            })
            .await
    }

    /// A node received `amount_msat` for `payment_hash`: credit the invoice's account once,
    /// or, if an inbound stage holds it, the suspense account (with an inbound hold).
    /// Money for a hash no invoice of ours claims goes to the unattributed account.
    pub(crate) async fn credit_received(
        &self,
        node: &str,
        payment_hash: &str,
        amount_msat: u64,
    ) -> Result<(), GatewayError> {
        let (node_name, hash) = (node.to_string(), payment_hash.to_string());
        let (now, event_id, hold_id) = (self.now_ms(), self.new_id("evt"), self.new_id("ihold"));
        let pipeline = self.inner.pipeline.clone();
        let credited = self
            .inner
            .store
            .write(move |sql| -> Result<bool, GatewayError> {
                let amount = i64::try_from(amount_msat).expect("bounded by channel capacity");
                let node_acct = node_account(&node_name);
                let invoice = invoice_by_hash(sql, &hash)?;
                if let Some(invoice) = &invoice {
                    let receipt = Receipt {
                        invoice_id: invoice.id.clone(),
                        tenant_id: invoice.tenant_id.clone(),
                        account_id: invoice.account_id.clone(),
                        payment_hash: hash.clone(),
                        amount_msat,
                        node: node_name.clone(),
                    };
                    // A repeated report of a paid invoice is not a new receipt to judge.
                    let held = if invoice.status == InvoiceStatus::Paid {
                        None
                    } else {
                        pipeline.run_inbound(sql, &receipt, now)?
                    };
                    let credit_to = match held {
                        Some(_) => SUSPENSE_ACCOUNT,
                        None => invoice.account_id.as_str(),
                    };
                    let credited = mark_paid(
                        sql,
                        invoice,
                        amount_msat,
                        [
                            Posting::new(credit_to, "invoice", amount),
                            Posting::new(&node_acct, "invoice", -amount),
                        ],
                        &event_id,
                        now,
                        PaidBy::Lightning,
                    )?;
                    if let (true, Some(held)) = (credited, &held) {
                        let why = (held.stage, held.code.as_str(), held.reason.as_str());
                        record_hold(sql, &hold_id, &receipt, why, now)?;
                        for (i, alert) in held.alerts.iter().enumerate() {
                            let alert_id = format!("alr_{hold_id}_{i}");
                            let invoice = Some(receipt.invoice_id.as_str());
                            compliance::alerts::insert(sql, &alert_id, alert, None, invoice, now)?;
                        }
                    }
                    // Not credited: either this event is a repeat (nothing to do), or the
                    // invoice was already settled inside the ledger by one of our accounts
                    // and an outsider paid it too: that money is real and is booked below.
                    let paid_internally = sql
                        .query_opt(
                            "SELECT 1 FROM payments WHERE payment_hash = $1 AND route = 'internal' \
                             AND status = 'succeeded'",
                            &[hash.as_str().into()],
                        )?
                        .is_some();
                    if credited || !paid_internally {
                        return Ok(credited);
                    }
                }
                // A probe between our nodes is booked by the probe, both sides at once.
                let probe = invoice.is_none()
                    && sql
                        .query_opt("SELECT 1 FROM probes WHERE payment_hash = $1", &[hash.as_str().into()])?
                        .is_some();
                if probe {
                    return Ok(false);
                }
                {
                        let entry = JournalEntry {
                            id: format!("recv_{hash}"),
                            kind: "unattributed_receipt".into(),
                            reference: Some(hash.clone()),
                            postings: vec![
                                Posting::new(UNATTRIBUTED_ACCOUNT, "receipt", amount),
                                Posting::new(&node_acct, "receipt", -amount),
                            ],
                        };
                        let seen = sql
                            .query_opt("SELECT 1 FROM journal WHERE id = $1", &[entry.id.as_str().into()])?
                            .is_some();
                        if !seen {
                            tracing::warn!(%hash, amount_msat, "payment received that no open invoice of ours claims");
                            post(sql, &entry, now)?;
                        }
                }
                Ok(false)
            })
            .await?;
        if credited {
            observe::invoice_paid(node, amount_msat);
        }
        Ok(())
    }
}
