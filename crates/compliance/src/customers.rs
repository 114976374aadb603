//! Customers of a tenant and their due-diligence profile, stored and audited in the
//! caller's transaction. The profile follows from the facts through the risk table
//! (`risk.rs`) unless an officer overrode the level with a reason; the name is screened
//! at creation and whenever it changes, and the hits are kept with the customer.

use audit::AuditAction;
use kernel::Actor;
use store::{Dialect, Row, Sql, StoreError, Value};

use crate::risk::{Assessment, CustomerKind, KycStatus, LevelProfile, ReviewFrequency, RiskLevel};
use crate::{ComplianceError, NameHit};

/// A customer as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub kind: CustomerKind,
    /// ISO 3166 alpha-2.
    pub country: String,
    pub business_type: String,
    pub expected_monthly_eur_cents: u64,
    pub source_of_funds: String,
    pub risk_score: u32,
    pub risk_factors: Vec<String>,
    pub risk_level: RiskLevel,
    /// Set when an officer chose the level instead of the table.
    pub risk_override_reason: Option<String>,
    pub jurisdictions_version: String,
    pub kyc_status: KycStatus,
    pub daily_limit_eur_cents: u64,
    pub monthly_limit_eur_cents: u64,
    pub annual_limit_eur_cents: u64,
    pub enhanced_monitoring: bool,
    pub review_frequency: ReviewFrequency,
    pub next_review_at_ms: i64,
    pub screening_hits: Vec<NameHit>,
    pub screened_at_ms: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// When the relationship ended (the retention clock's start); final.
    pub relationship_ended_at_ms: Option<i64>,
    /// When its records were deleted and its personal data erased, retention over.
    pub purged_at_ms: Option<i64>,
}

impl Customer {
    /// Applies an assessment (or the overriding level) and its profile.
    pub(crate) fn apply(
        &mut self,
        assessment: &Assessment,
        level: RiskLevel,
        profile: LevelProfile,
        now_ms: i64,
    ) {
        let review_changed = self.review_frequency != profile.review;
        self.risk_score = assessment.score;
        self.risk_factors = assessment.factors.clone();
        self.risk_level = level;
        self.daily_limit_eur_cents = profile.daily_limit_eur_cents;
        self.monthly_limit_eur_cents = profile.monthly_limit_eur_cents;
        self.annual_limit_eur_cents = profile.annual_limit_eur_cents;
        self.enhanced_monitoring = profile.enhanced_monitoring;
        self.review_frequency = profile.review;
        if review_changed || self.next_review_at_ms == 0 {
            self.next_review_at_ms = now_ms + profile.review.period_ms();
        }
    }
}

const COLUMNS: &str = "id, tenant_id, name, kind, country, business_type, \
    expected_monthly_eur_cents, source_of_funds, risk_score, risk_factors, risk_level, \
    risk_override_reason, jurisdictions_version, kyc_status, daily_limit_eur_cents, \
    monthly_limit_eur_cents, annual_limit_eur_cents, enhanced_monitoring, review_frequency, \
    next_review_at_ms, screening_hits, screened_at_ms, created_at_ms, updated_at_ms, \
    relationship_ended_at_ms, purged_at_ms";
/// The last columns of [`COLUMNS`], written by `retention` alone.
const RETENTION_COLUMNS: usize = 2;

fn decode(row: &Row) -> Result<Customer, StoreError> {
    let json = |column: &str| -> Result<String, StoreError> { Ok(row.text(column)?.to_string()) };
    Ok(Customer {
        id: row.text("id")?.to_string(),
        tenant_id: row.text("tenant_id")?.to_string(),
        name: row.text("name")?.to_string(),
        kind: row.parse("kind")?,
        country: row.text("country")?.to_string(),
        business_type: row.text("business_type")?.to_string(),
        expected_monthly_eur_cents: row.u64("expected_monthly_eur_cents")?,
        source_of_funds: row.text("source_of_funds")?.to_string(),
        risk_score: u32::try_from(row.u64("risk_score")?).unwrap_or(u32::MAX),
        risk_factors: serde_json::from_str(&json("risk_factors")?).unwrap_or_default(),
        risk_level: row.parse("risk_level")?,
        risk_override_reason: row.opt_text("risk_override_reason")?.map(str::to_string),
        jurisdictions_version: row.text("jurisdictions_version")?.to_string(),
        kyc_status: row.parse("kyc_status")?,
        daily_limit_eur_cents: row.u64("daily_limit_eur_cents")?,
        monthly_limit_eur_cents: row.u64("monthly_limit_eur_cents")?,
        annual_limit_eur_cents: row.u64("annual_limit_eur_cents")?,
        enhanced_monitoring: row.bool("enhanced_monitoring")?,
        review_frequency: row.parse("review_frequency")?,
        next_review_at_ms: row.i64("next_review_at_ms")?,
        screening_hits: serde_json::from_str(&json("screening_hits")?).unwrap_or_default(),
        screened_at_ms: row.i64("screened_at_ms")?,
        created_at_ms: row.i64("created_at_ms")?,
        updated_at_ms: row.i64("updated_at_ms")?,
        relationship_ended_at_ms: row.opt_i64("relationship_ended_at_ms")?,
        purged_at_ms: row.opt_i64("purged_at_ms")?,
    })
}

fn params(c: &Customer) -> Vec<Value> {
    vec![
        c.id.as_str().into(),
        c.tenant_id.as_str().into(),
        c.name.as_str().into(),
        c.kind.as_str().into(),
        c.country.as_str().into(),
        c.business_type.as_str().into(),
        c.expected_monthly_eur_cents.into(),
        c.source_of_funds.as_str().into(),
        u64::from(c.risk_score).into(),
        serde_json::to_string(&c.risk_factors)
            .unwrap_or_default()
            .into(),
        c.risk_level.as_str().into(),
        c.risk_override_reason
            .as_deref()
            .map_or(Value::Null, Value::from),
        c.jurisdictions_version.as_str().into(),
        c.kyc_status.as_str().into(),
        c.daily_limit_eur_cents.into(),
        c.monthly_limit_eur_cents.into(),
        c.annual_limit_eur_cents.into(),
        c.enhanced_monitoring.into(),
        c.review_frequency.as_str().into(),
        c.next_review_at_ms.into(),
        serde_json::to_string(&c.screening_hits)
            .unwrap_or_default()
            .into(),
        c.screened_at_ms.into(),
        c.created_at_ms.into(),
        c.updated_at_ms.into(),
        c.relationship_ended_at_ms.map_or(Value::Null, Value::Int),
        c.purged_at_ms.map_or(Value::Null, Value::Int),
    ]
}

/// Stores a new customer (audited as `customer.create`).
pub fn insert(
    sql: &mut dyn Sql,
    actor: &Actor,
    customer: &Customer,
) -> Result<(), ComplianceError> {
    let tenant = sql.query_opt(
        "SELECT id FROM tenants WHERE id = $1",
        &[customer.tenant_id.as_str().into()],
    )?;
    if tenant.is_none() || customer.tenant_id == kernel::SYSTEM_TENANT {
        return Err(crate::error::invalid("tenant_id", "no such tenant"));
    }
    let placeholders: Vec<String> = (1..=COLUMNS.split(", ").count())
        .map(|i| format!("${i}"))
        .collect();
    sql.execute(
        &format!(
            "INSERT INTO customers ({COLUMNS}) VALUES ({})",
            placeholders.join(", ")
        ),
        &params(customer),
    )?;
    actor.audit(
        sql,
        customer.created_at_ms,
        Some(&customer.tenant_id),
        "customer.create",
        &format!("customer:{}", customer.id),
        Some(format!("risk {}", customer.risk_level.as_str())),
    )?;
    Ok(())
}

/// Writes a changed customer back (audited as `customer.update` with what changed).
pub fn update(
    sql: &mut dyn Sql,
    actor: &Actor,
    customer: &Customer,
    details: String,
) -> Result<(), ComplianceError> {
    // Every column but the id (`tenant_id` is set to itself: PostgreSQL needs each
    // parameter used) and the retention columns, which only `retention` writes (a change
    // read before an end must not write the end back out).
    let columns: Vec<&str> = COLUMNS.split(", ").map(str::trim).collect();
    let kept = columns.len() - RETENTION_COLUMNS;
    let assignments: Vec<String> = columns[..kept]
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, column)| format!("{column} = ${}", i + 1))
        .collect();
    sql.execute(
        &format!(
            "UPDATE customers SET {} WHERE id = $1",
            assignments.join(", ")
        ),
        &params(customer)[..kept],
    )?;
    actor.audit(
        sql,
        customer.updated_at_ms,
        Some(&customer.tenant_id),
        "customer.update",
        &format!("customer:{}", customer.id),
        Some(details),
    )?;
    Ok(())
}

pub fn get(sql: &mut dyn Sql, id: &str) -> Result<Option<Customer>, StoreError> {
    sql.query_opt(
        &format!("SELECT {COLUMNS} FROM customers WHERE id = $1"),
        &[id.into()],
    )?
    .as_ref()
    .map(decode)
    .transpose()
}

/// A tenant's customers after `after` (an id), in id order, one page.
pub fn list(
    sql: &mut dyn Sql,
    tenant_id: Option<&str>,
    after: &str,
    limit: u32,
) -> Result<Vec<Customer>, StoreError> {
    sql.query(
        &format!(
            "SELECT {COLUMNS} FROM customers WHERE ($1 = '' OR tenant_id = $1) AND id > $2 \
             ORDER BY id LIMIT $3"
        ),
        &[
            tenant_id.unwrap_or("").into(),
            after.into(),
            kernel::page_limit(limit).into(),
        ],
    )?
    .iter()
    .map(decode)
    .collect()
}

/// Locks the row of the account's customer, if it has one, for the caller's transaction.
/// A payment takes it before its account's row: a transaction (a group-committed batch
/// may pay from several accounts of one customer) then never holds an account of the
/// customer while it waits for the customer, so two replicas cannot deadlock on them.
pub fn lock_customer_of(sql: &mut dyn Sql, account_id: &str) -> Result<(), StoreError> {
    // SQLite has one writer: nothing to order.
    if sql.dialect() == Dialect::Postgres {
        of_account_locked(sql, account_id)?;
    }
    Ok(())
}

/// The customer an account belongs to, its row locked for the caller's transaction (so
/// that payments from two accounts of one customer are decided one after the other).
pub fn of_account_locked(
    sql: &mut dyn Sql,
    account_id: &str,
) -> Result<Option<Customer>, StoreError> {
    let lock = sql.dialect().row_lock();
    sql.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM customers WHERE id = \
             (SELECT customer_id FROM accounts WHERE id = $1){lock}"
        ),
        &[account_id.into()],
    )?
    .as_ref()
    .map(decode)
    .transpose()
}

/// Links an account to a customer of the same tenant (refused otherwise, in the same
/// words as for a customer that does not exist).
pub fn link_account(
    sql: &mut dyn Sql,
    account_id: &str,
    tenant_id: &str,
    customer_id: &str,
) -> Result<(), ComplianceError> {
    let linked = sql.execute(
        "UPDATE accounts SET customer_id = $1 WHERE id = $2 AND EXISTS \
         (SELECT 1 FROM customers WHERE id = $1 AND tenant_id = $3 \
         AND relationship_ended_at_ms IS NULL)",
        &[customer_id.into(), account_id.into(), tenant_id.into()],
    )?;
    if linked == 0 {
        return Err(crate::error::invalid(
            "customer_id",
            "no such customer in this tenant (or its relationship has ended)",
        ));
    }
    Ok(())
}
