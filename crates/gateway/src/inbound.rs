//! The inbound path: a payment our node received for one of our invoices passes the
//! pipeline's inbound stages before the money is the customer's. `Credit`: the invoice's
//! account is credited, as always. `Hold`: the invoice is paid (the payer did pay) but the
//! money is credited to the suspense account, and an inbound hold records why; a decision
//! releases it to the account, once. The compliance issue adds the stages (sanctions and
//! AML screening of the payer) and the decision endpoints; returning held money to a
//! payer needs a refund destination and lands with it.

use audit::AuditAction;
use ledger::{post, JournalEntry, Posting};
use serde::Serialize;
use store::{Row, Sql, StoreError, Value};

use crate::system::SUSPENSE_ACCOUNT;
use crate::{Actor, Gateway, GatewayError, Scope};

/// A received payment as the inbound stages see it, inside its transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub invoice_id: String,
    pub tenant_id: String,
    pub account_id: String,
    pub payment_hash: String,
    pub amount_msat: u64,
    /// The node that received it.
    pub node: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InboundVerdict {
    Credit,
    /// Credited to suspense until a decision; `code` is stable, `reason` for people; the
    /// alerts (if any) are recorded with the hold, and their release releases it.
    Hold {
        code: String,
        reason: String,
        alerts: Vec<compliance::AlertDraft>,
    },
}

/// What held a receipt: the stage, its verdict's code and reason, and its alerts.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub stage: &'static str,
    pub code: String,
    pub reason: String,
    pub alerts: Vec<compliance::AlertDraft>,
}

/// An inbound stage: decides in the receipt's transaction (the invoice not yet marked
/// paid), so what it reads of the account is what the credit will change.
pub trait InboundStage: Send + Sync {
    fn name(&self) -> &'static str;
    fn in_tx(
        &self,
        sql: &mut dyn Sql,
        receipt: &Receipt,
        now_ms: i64,
    ) -> Result<InboundVerdict, GatewayError>;
}

/// Held money's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum InboundHoldState {
    Held,
    Released,
}

/// A received payment held by an inbound stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundHold {
    pub id: String,
    pub invoice_id: String,
    pub tenant_id: String,
    pub account_id: String,
    pub amount_msat: u64,
    pub stage: String,
    pub code: String,
    pub reason: String,
    pub state: InboundHoldState,
    pub created_at_ms: i64,
    pub decided_at_ms: Option<i64>,
    pub decided_by: Option<String>,
}

const COLUMNS: &str = "id, invoice_id, tenant_id, account_id, amount_msat, stage, code, \
    reason, state, created_at_ms, decided_at_ms, decided_by";

fn from_row(row: &Row) -> Result<InboundHold, StoreError> {
    Ok(InboundHold {
        id: row.text("id")?.to_string(),
        invoice_id: row.text("invoice_id")?.to_string(),
        tenant_id: row.text("tenant_id")?.to_string(),
        account_id: row.text("account_id")?.to_string(),
        amount_msat: row.u64("amount_msat")?,
        stage: row.text("stage")?.to_string(),
        code: row.text("code")?.to_string(),
        reason: row.text("reason")?.to_string(),
        state: row.parse("state")?,
        created_at_ms: row.i64("created_at_ms")?,
        decided_at_ms: row.opt_i64("decided_at_ms")?,
        decided_by: row.opt_text("decided_by")?.map(str::to_string),
    })
}

/// Records the hold of `receipt` (decided by `stage`); the caller credits suspense.
pub(crate) fn record_hold(
    sql: &mut dyn Sql,
    id: &str,
    receipt: &Receipt,
    (stage, code, reason): (&str, &str, &str),
    now_ms: i64,
) -> Result<(), GatewayError> {
    sql.execute(
        &format!(
            "INSERT INTO inbound_holds ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'held', $9, NULL, NULL)"
        ),
        &[
            id.into(),
            receipt.invoice_id.as_str().into(),
            receipt.tenant_id.as_str().into(),
            receipt.account_id.as_str().into(),
            receipt.amount_msat.into(),
            stage.into(),
            code.into(),
            reason.into(),
            Value::Int(now_ms),
        ],
    )?;
    tracing::info!(hold = %id, invoice = %receipt.invoice_id, %code, "received payment held in suspense");
    Ok(())
}

impl Gateway {
    /// The inbound hold `id`, if the caller may see its tenant.
    pub async fn inbound_hold(&self, scope: &Scope, id: &str) -> Result<InboundHold, GatewayError> {
        let owned = id.to_string();
        let found = self
            .inner
            .store
            .read(move |sql| {
                sql.query_opt(
                    &format!("SELECT {COLUMNS} FROM inbound_holds WHERE id = $1"),
                    &[owned.as_str().into()],
                )?
                .as_ref()
                .map(from_row)
                .transpose()
            })
            .await?;
        match found {
            Some(hold) if scope.allows(&hold.tenant_id) => Ok(hold),
            _ => Err(GatewayError::UnknownInboundHold(id.to_string())),
        }
    }

    /// Releases held money to the invoice's account: once (a second release, from any
    /// replica, finds nothing held and is refused), audited in the same transaction.
    pub async fn release_inbound(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<InboundHold, GatewayError> {
        let hold = self.inbound_hold(&actor.scope, id).await?;
        let (actor, now) = (actor.clone(), self.now_ms());
        self.inner
            .store
            .write(move |sql| release_in(sql, &actor, &hold.id, now))
            .await
    }
}

/// Releases the held receipt `id` to its account in the caller's transaction: once (a
/// second release finds nothing held and is refused), audited.
pub(crate) fn release_in(
    sql: &mut dyn Sql,
    actor: &Actor,
    id: &str,
    now: i64,
) -> Result<InboundHold, GatewayError> {
    let released = sql.query_opt(
        &format!(
            "UPDATE inbound_holds SET state = 'released', decided_at_ms = $2, \
             decided_by = $3 WHERE id = $1 AND state = 'held' RETURNING {COLUMNS}"
        ),
        &[
            id.into(),
            Value::Int(now),
            actor.origin.actor_id.as_str().into(),
        ],
    )?;
    let Some(row) = released else {
        return Err(GatewayError::InboundHoldDecided(id.to_string()));
    };
    let released = from_row(&row)?;
    let amount = i64::try_from(released.amount_msat).map_err(|_| StoreError::Decode {
        column: "amount_msat".into(),
        detail: "beyond any balance".into(),
    })?;
    post(
        sql,
        &JournalEntry {
            id: format!("inbound_release_{}", released.id),
            kind: "inbound_release".into(),
            reference: Some(released.invoice_id.clone()),
            postings: vec![
                Posting::new(&released.account_id, "inbound_release", amount),
                Posting::new(SUSPENSE_ACCOUNT, "inbound_release", -amount),
            ],
        },
        now,
    )?;
    actor.audit(
        sql,
        now,
        Some(&released.tenant_id),
        "inbound.release",
        &released.id,
        Some(format!("amount_msat={}", released.amount_msat)),
    )?;
    Ok(released)
}

/// The held receipt of `invoice_id`, if one is held.
pub(crate) fn held_for_invoice(
    sql: &mut dyn Sql,
    invoice_id: &str,
) -> Result<Option<String>, StoreError> {
    sql.query_opt(
        "SELECT id FROM inbound_holds WHERE invoice_id = $1 AND state = 'held'",
        &[invoice_id.into()],
    )?
    .map(|row| Ok(row.text("id")?.to_string()))
    .transpose()
}
