//! Retention: a customer relationship's end starts the clock (AMLR Art. 77: five years
//! after the end of the relationship; `[retention] years`, 5 to 10); once it has run, a
//! bounded job deletes the customer's transaction records (its accounts' finished
//! payments and invoices, with their approval requests and receipt holds) and compliance
//! records (screening matches, clearances, decided alerts, closed cases with their notes
//! and reports, each only once its own last change is as old), then erases the
//! customer's personal data and records when.
//!
//! Kept on purpose: the ledger's postings and journal (ids and amounts only, no personal
//! data; every other account's books rest on them, so deleting them would unbalance the
//! books), and the audit trail (hash-chained: it cannot lose a record without showing
//! it). A relationship ends now, never at a date given: a back-dated end would let one
//! person delete records early.

use audit::AuditAction;
use chrono::{DateTime, Months};
use kernel::Actor;
use store::{Sql, StoreError, Value};

use crate::customers::{self, Customer};
use crate::error::invalid;
use crate::{ComplianceError, DueDiligence};

/// The legal minimum and the most a configuration may ask, in years.
pub const MIN_YEARS: u32 = 5;
pub const MAX_YEARS: u32 = 10;
/// Rows deleted per statement (each its own short transaction).
pub const DELETE_BATCH: i64 = 500;
const MAX_REASON_CHARS: usize = 1_000;
/// A customer whose remaining records may not go yet is looked at again after this.
const RECHECK_MS: i64 = 30 * 60_000;

/// Operational copies (webhook deliveries and the events they carried, payments'
/// idempotent answers) are kept this many days by default, and at most a year: far less
/// than the records they copy, so none outlives a purged customer.
pub const DEFAULT_OPERATIONAL_DAYS: u32 = 90;
pub const MAX_OPERATIONAL_DAYS: u32 = 365;

/// `[retention]`: how long records are kept after a relationship ends, and how long
/// operational copies are kept at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Years after the end of the relationship (5 to 10; default 5, AMLR Art. 77).
    pub years: u32,
    /// Days webhook deliveries (with their attempts and events) and payments' idempotent
    /// answers are kept (1 to 365; default 90). A payment retried with its key after
    /// that is refused as paid (one payment per invoice), never paid twice.
    pub operational_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            years: MIN_YEARS,
            operational_days: DEFAULT_OPERATIONAL_DAYS,
        }
    }
}

impl RetentionConfig {
    pub fn check(&self) -> Result<(), String> {
        if !(MIN_YEARS..=MAX_YEARS).contains(&self.years) {
            return Err(format!(
                "years = {}: records are kept {MIN_YEARS} to {MAX_YEARS} years after a relationship ends",
                self.years
            ));
        }
        if !(1..=MAX_OPERATIONAL_DAYS).contains(&self.operational_days) {
            return Err(format!(
                "operational_days = {}: webhook deliveries and idempotent answers are kept 1 to {MAX_OPERATIONAL_DAYS} days",
                self.operational_days
            ));
        }
        Ok(())
    }

    /// How long operational copies are kept, in ms.
    pub fn operational_ms(&self) -> i64 {
        i64::from(self.operational_days) * 86_400_000
    }
}

/// When records of a relationship that ended at `ended_at_ms` may go.
pub fn purge_after_ms(ended_at_ms: i64, years: u32) -> i64 {
    DateTime::from_timestamp_millis(ended_at_ms)
        .and_then(|t| t.checked_add_months(Months::new(years.saturating_mul(12))))
        .map_or(i64::MAX, |t| t.timestamp_millis())
}

/// Ends `customer_id`'s relationship now (final; audited with the reason). Its accounts
/// send nothing more.
pub fn end_relationship(
    sql: &mut dyn Sql,
    actor: &Actor,
    customer_id: &str,
    reason: &str,
    now_ms: i64,
) -> Result<Customer, ComplianceError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(invalid(
            "reason",
            format!("1 to {MAX_REASON_CHARS} characters"),
        ));
    }
    // The customer's row first (what a payment's transaction locks too), then no
    // payment of its accounts may still be on its way: an end does not strand money.
    let lock = sql.dialect().row_lock();
    sql.query_opt(
        &format!("SELECT id FROM customers WHERE id = $1{lock}"),
        &[customer_id.into()],
    )?;
    let open = sql
        .query_one(
            "SELECT COUNT(*) AS n FROM payments WHERE account_id IN \
             (SELECT id FROM accounts WHERE customer_id = $1) \
             AND status IN ('pending', 'awaiting_approval', 'in_flight')",
            &[customer_id.into()],
        )?
        .u64("n")?;
    if open > 0 {
        return Err(invalid(
            "customer",
            format!(
                "{open} payment(s) of its accounts are pending, held or in flight: \
                 decide or finish them first"
            ),
        ));
    }
    let ended = sql.execute(
        "UPDATE customers SET relationship_ended_at_ms = $2, updated_at_ms = $2 \
         WHERE id = $1 AND relationship_ended_at_ms IS NULL",
        &[customer_id.into(), Value::Int(now_ms)],
    )?;
    let customer = customers::get(sql, customer_id)?.ok_or(ComplianceError::UnknownCustomer)?;
    if ended == 0 {
        return Err(ComplianceError::RelationshipEnded);
    }
    actor.audit(
        sql,
        now_ms,
        Some(&customer.tenant_id),
        "customer.end_relationship",
        &format!("customer:{customer_id}"),
        Some(reason.to_string()),
    )?;
    Ok(customer)
}

/// The next customer whose retention ran out by `now_ms` and is not purged yet (one
/// whose remaining records could not go was looked at less than half an hour ago comes
/// after the others, and not again in that time).
pub fn next_due(
    sql: &mut dyn Sql,
    years: u32,
    now_ms: i64,
) -> Result<Option<(String, i64)>, StoreError> {
    // Calendar years are at least 365 days: what ended later cannot be due.
    let ended_by_ms = now_ms.saturating_sub(i64::from(years) * 365 * 86_400_000);
    let rows = sql.query(
        "SELECT id, relationship_ended_at_ms FROM customers \
         WHERE relationship_ended_at_ms IS NOT NULL AND relationship_ended_at_ms <= $1 \
         AND purged_at_ms IS NULL AND COALESCE(retention_checked_at_ms, 0) <= $2 \
         ORDER BY COALESCE(retention_checked_at_ms, 0), relationship_ended_at_ms, id LIMIT 16",
        &[Value::Int(ended_by_ms), Value::Int(now_ms - RECHECK_MS)],
    )?;
    for row in rows {
        let ended = row.i64("relationship_ended_at_ms")?;
        if purge_after_ms(ended, years) <= now_ms {
            return Ok(Some((row.text("id")?.to_string(), ended)));
        }
    }
    Ok(None)
}

/// One bounded step of purging `customer_id` (records whose own last change is no later
/// than `cutoff_ms`): at most [`DELETE_BATCH`] rows of the first kind that still has
/// some; returns how many went. Zero: nothing more may go now; when nothing at all is
/// left the customer's personal data is erased (once; audited), else it is looked at
/// again later (an open case keeps what it needs until it closes).
pub fn purge_step(
    sql: &mut dyn Sql,
    customer_id: &str,
    cutoff_ms: i64,
    now_ms: i64,
) -> Result<u64, ComplianceError> {
    let accounts = "SELECT id FROM accounts WHERE customer_id = $1";
    let payments = format!(
        "SELECT id FROM payments WHERE account_id IN ({accounts}) \
         AND status IN ('succeeded', 'failed', 'rejected') AND updated_at_ms <= $2 LIMIT $3"
    );
    let invoices = format!(
        "SELECT id FROM invoices WHERE account_id IN ({accounts}) \
         AND status IN ('paid', 'expired', 'canceled') \
         AND COALESCE(paid_at_ms, created_at_ms) <= $2 LIMIT $3"
    );
    let cases = "SELECT id FROM aml_cases WHERE customer_id = $1 AND closed_at_ms IS NOT NULL \
         AND closed_at_ms <= $2 LIMIT $3";
    // Children first: each statement's rows are bounded, and the parent's go once its
    // children are gone.
    let steps = [
        format!("DELETE FROM approval_votes WHERE payment_id IN ({payments})"),
        format!(
            "DELETE FROM approval_requests WHERE payment_id IN ({payments}) \
             AND NOT EXISTS (SELECT 1 FROM approval_votes v WHERE v.payment_id = approval_requests.payment_id)"
        ),
        format!(
            "DELETE FROM payments WHERE id IN ({payments}) \
             AND NOT EXISTS (SELECT 1 FROM approval_requests r WHERE r.payment_id = payments.id)"
        ),
        format!("DELETE FROM inbound_holds WHERE invoice_id IN ({invoices}) AND state <> 'held'"),
        format!(
            "DELETE FROM invoices WHERE id IN ({invoices}) \
             AND NOT EXISTS (SELECT 1 FROM inbound_holds h WHERE h.invoice_id = invoices.id)"
        ),
        format!("DELETE FROM aml_case_notes WHERE case_id IN ({cases})"),
        format!("DELETE FROM aml_reports WHERE case_id IN ({cases})"),
        format!("UPDATE aml_alerts SET case_id = NULL WHERE case_id IN ({cases})"),
        format!(
            "DELETE FROM aml_cases WHERE id IN ({cases}) \
             AND NOT EXISTS (SELECT 1 FROM aml_case_notes n WHERE n.case_id = aml_cases.id) \
             AND NOT EXISTS (SELECT 1 FROM aml_reports r WHERE r.case_id = aml_cases.id) \
             AND NOT EXISTS (SELECT 1 FROM aml_alerts a WHERE a.case_id = aml_cases.id)"
        ),
        "DELETE FROM aml_alerts WHERE id IN (SELECT id FROM aml_alerts WHERE customer_id = $1 \
         AND state <> 'open' AND case_id IS NULL AND COALESCE(decided_at_ms, created_at_ms) <= $2 \
         LIMIT $3)"
            .to_string(),
    ];
    let params = [
        customer_id.into(),
        Value::Int(cutoff_ms),
        Value::Int(DELETE_BATCH),
    ];
    for step in &steps {
        let gone = sql.execute(step, &params)?;
        if gone > 0 {
            return Ok(gone);
        }
    }
    // A customer's matches and clearances are bounded by the entries it matches (a
    // handful): one statement each.
    for table in ["screening_matches", "screening_clearances"] {
        let gone = sql.execute(
            &format!("DELETE FROM {table} WHERE customer_id = $1"),
            &[customer_id.into()],
        )?;
        if gone > 0 {
            return Ok(gone);
        }
    }
    let left = sql
        .query_one(
            "SELECT \
             (SELECT COUNT(*) FROM payments WHERE account_id IN \
               (SELECT id FROM accounts WHERE customer_id = $1)) \
             + (SELECT COUNT(*) FROM invoices WHERE account_id IN \
               (SELECT id FROM accounts WHERE customer_id = $1)) \
             + (SELECT COUNT(*) FROM aml_alerts WHERE customer_id = $1) \
             + (SELECT COUNT(*) FROM aml_cases WHERE customer_id = $1) AS n",
            &[customer_id.into()],
        )?
        .u64("n")?;
    if left > 0 {
        sql.execute(
            "UPDATE customers SET retention_checked_at_ms = $2 WHERE id = $1",
            &[customer_id.into(), Value::Int(now_ms)],
        )?;
        return Ok(0);
    }
    erase(sql, customer_id, now_ms)?;
    Ok(0)
}

/// Erases the customer's personal data (the row stays: accounts and the books name it)
/// and records the purge, once.
fn erase(sql: &mut dyn Sql, customer_id: &str, now_ms: i64) -> Result<(), ComplianceError> {
    let erased = sql.execute(
        "UPDATE customers SET name = '', country = '', business_type = '', \
         source_of_funds = '', risk_factors = '[]', risk_override_reason = NULL, \
         screening_hits = '[]', purged_at_ms = $2, updated_at_ms = $2 \
         WHERE id = $1 AND purged_at_ms IS NULL",
        &[customer_id.into(), Value::Int(now_ms)],
    )?;
    if erased > 0 {
        let system = Actor::system("retention");
        let target = format!("customer:{customer_id}");
        system.audit(sql, now_ms, None, "customer.purge", &target, None)?;
    }
    Ok(())
}

impl DueDiligence {
    /// Ends a customer relationship now (final): the retention clock starts, its accounts
    /// send nothing more.
    pub async fn end_relationship(
        &self,
        actor: &Actor,
        id: &str,
        reason: &str,
    ) -> Result<Customer, ComplianceError> {
        let (actor, id, reason) = (actor.clone(), id.to_string(), reason.to_string());
        let now = self.inner.clock.now_ms();
        self.inner
            .store
            .write(move |sql| end_relationship(sql, &actor, &id, &reason, now))
            .await
    }

    /// Purges the records of relationships that ended more than `years` ago, one bounded
    /// step per transaction, at most `max_steps` steps; returns the rows deleted.
    pub async fn purge_expired(&self, years: u32, max_steps: u32) -> Result<u64, ComplianceError> {
        let (mut deleted, mut steps) = (0, 0);
        while steps < max_steps {
            let now = self.inner.clock.now_ms();
            let due = self
                .inner
                .store
                .read(move |sql| next_due(sql, years, now))
                .await?;
            let Some((id, ended_at_ms)) = due else { break };
            // A record goes once its own last change is as old as the retention period.
            let period_ms = purge_after_ms(ended_at_ms, years).saturating_sub(ended_at_ms);
            let cutoff_ms = now.saturating_sub(period_ms);
            // This customer's steps until nothing more of it may go, then the next's.
            while steps < max_steps {
                steps += 1;
                let id = id.clone();
                let gone = self
                    .inner
                    .store
                    .write(move |sql| purge_step(sql, &id, cutoff_ms, now))
                    .await?;
                deleted += gone;
                if gone == 0 {
                    break;
                }
            }
        }
        Ok(deleted)
    }
}
