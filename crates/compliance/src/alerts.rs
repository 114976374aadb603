//! Monitoring alerts in the store: written in the transaction of the payment a rule
//! fired on, listed for compliance officers, and decided once (release or reject, with a
//! reason, audited). An open review alert holds its payment: nothing executes or settles
//! it until every review alert of the payment is released.

use audit::AuditAction;
use kernel::Actor;
use serde::Serialize;
use store::{Row, Sql, StoreError, Value};

use crate::error::invalid;
use crate::ComplianceError;

const MAX_REASON_CHARS: usize = 500;

/// What a rule found, before it is stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertDraft {
    pub tenant_id: String,
    pub account_id: String,
    pub customer_id: Option<String>,
    /// The payment's direction; none for an alert about the customer itself (a
    /// sanctions match at rescreening, a review past due).
    pub direction: Option<aml::Direction>,
    pub rule: String,
    pub rule_version: u32,
    pub decision: aml::Decision,
    pub score: f64,
    pub evidence: String,
    pub eur_cents: u64,
    /// The rate the EUR value was computed at, and its source.
    pub eur_rate: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum AlertState {
    /// Waiting for an officer (a review), or recorded (a block, decided by the rule).
    Open,
    Released,
    Rejected,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// An officer's decision on a review alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum AlertDecision {
    Release,
    Reject,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: String,
    pub draft: AlertDraft,
    pub payment_id: Option<String>,
    pub invoice_id: Option<String>,
    pub state: AlertState,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub decided_at_ms: Option<i64>,
    pub created_at_ms: i64,
    /// The case an officer put it in.
    pub case_id: Option<String>,
}

const COLUMNS: &str = "id, tenant_id, account_id, customer_id, payment_id, invoice_id, direction, \
    rule, rule_version, decision, score_permille, evidence, eur_cents, eur_rate, state, \
    decided_by, decision_reason, decided_at_ms, created_at_ms, case_id";

fn decode(row: &Row) -> Result<Alert, StoreError> {
    let bad = |column: &str| StoreError::Decode {
        column: column.to_string(),
        detail: "unknown value".into(),
    };
    Ok(Alert {
        id: row.text("id")?.to_string(),
        draft: AlertDraft {
            tenant_id: row.text("tenant_id")?.to_string(),
            account_id: row.text("account_id")?.to_string(),
            customer_id: row.opt_text("customer_id")?.map(str::to_string),
            // '' (the column predates alerts about customers and stays NOT NULL).
            direction: match row.text("direction")? {
                "in" => Some(aml::Direction::In),
                "out" => Some(aml::Direction::Out),
                "" => None,
                _ => return Err(bad("direction")),
            },
            rule: row.text("rule")?.to_string(),
            rule_version: u32::try_from(row.u64("rule_version")?).unwrap_or(u32::MAX),
            decision: match row.text("decision")? {
                "review" => aml::Decision::Review,
                "block" => aml::Decision::Block,
                _ => return Err(bad("decision")),
            },
            score: row.u64("score_permille")? as f64 / 1000.0,
            evidence: row.text("evidence")?.to_string(),
            eur_cents: row.u64("eur_cents")?,
            eur_rate: row.text("eur_rate")?.to_string(),
        },
        payment_id: row.opt_text("payment_id")?.map(str::to_string),
        invoice_id: row.opt_text("invoice_id")?.map(str::to_string),
        state: row.parse("state")?,
        decided_by: row.opt_text("decided_by")?.map(str::to_string),
        decision_reason: row.opt_text("decision_reason")?.map(str::to_string),
        decided_at_ms: row.opt_i64("decided_at_ms")?,
        created_at_ms: row.i64("created_at_ms")?,
        case_id: row.opt_text("case_id")?.map(str::to_string),
    })
}

/// Stores an alert in the caller's transaction (the payment's, when there is one). An
/// alert on an account whose draft names no customer gets the account's (a stage that
/// judged without the store, such as name screening, did not look it up).
pub fn insert(
    sql: &mut dyn Sql,
    id: &str,
    draft: &AlertDraft,
    payment_id: Option<&str>,
    invoice_id: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let text = |v: Option<&str>| v.map_or(Value::Null, Value::from);
    let customer_id = match &draft.customer_id {
        Some(customer) => Some(customer.clone()),
        None if !draft.account_id.is_empty() => sql
            .query_opt(
                "SELECT customer_id FROM accounts WHERE id = $1",
                &[draft.account_id.as_str().into()],
            )?
            .map(|row| row.opt_text("customer_id").map(|c| c.map(str::to_string)))
            .transpose()?
            .flatten(),
        None => None,
    };
    sql.execute(
        &format!(
            "INSERT INTO aml_alerts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, 'open', NULL, NULL, NULL, $15, NULL)"
        ),
        &[
            id.into(),
            draft.tenant_id.as_str().into(),
            draft.account_id.as_str().into(),
            text(customer_id.as_deref()),
            text(payment_id),
            text(invoice_id),
            draft.direction.map_or("", aml::Direction::as_str).into(),
            draft.rule.as_str().into(),
            u64::from(draft.rule_version).into(),
            draft.decision.as_str().into(),
            ((draft.score.clamp(0.0, 1.0) * 1000.0).round() as u64).into(),
            draft.evidence.as_str().into(),
            draft.eur_cents.into(),
            draft.eur_rate.as_str().into(),
            now_ms.into(),
        ],
    )?;
    Ok(())
}

/// What a review alert holds: a payment, or a received payment (by its invoice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    Payment(&'a str),
    Invoice(&'a str),
}

impl<'a> Subject<'a> {
    fn column(self) -> &'static str {
        match self {
            Subject::Payment(_) => "payment_id",
            Subject::Invoice(_) => "invoice_id",
        }
    }

    fn id(self) -> &'a str {
        match self {
            Subject::Payment(id) | Subject::Invoice(id) => id,
        }
    }

    /// The subject an alert holds.
    pub fn of(alert: &'a Alert) -> Option<Self> {
        match (&alert.payment_id, &alert.invoice_id) {
            (Some(payment), _) => Some(Subject::Payment(payment)),
            (None, Some(invoice)) => Some(Subject::Invoice(invoice)),
            (None, None) => None,
        }
    }
}

/// SQL: an open review alert holds the payment whose id is `payment_id_expr` (a column
/// or a parameter), for the statements that must not move a held payment.
pub fn holds_sql(payment_id_expr: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM aml_alerts h WHERE h.payment_id = {payment_id_expr} \
         AND h.state = 'open' AND h.decision = 'review')"
    )
}

/// Whether an open review alert still holds `subject`.
pub fn holds(sql: &mut dyn Sql, subject: Subject<'_>) -> Result<bool, StoreError> {
    Ok(sql
        .query_opt(
            &format!(
                "SELECT id FROM aml_alerts WHERE {} = $1 AND state = 'open' \
                 AND decision = 'review' LIMIT 1",
                subject.column()
            ),
            &[subject.id().into()],
        )?
        .is_some())
}

/// Review alerts waiting for an officer's decision.
pub fn open_reviews(sql: &mut dyn Sql) -> Result<u64, StoreError> {
    sql.query_one(
        "SELECT COUNT(*) AS n FROM aml_alerts WHERE state = 'open' AND decision = 'review'",
        &[],
    )?
    .u64("n")
}

pub fn get(sql: &mut dyn Sql, id: &str) -> Result<Option<Alert>, StoreError> {
    sql.query_opt(
        &format!("SELECT {COLUMNS} FROM aml_alerts WHERE id = $1"),
        &[id.into()],
    )?
    .as_ref()
    .map(decode)
    .transpose()
}

/// The alerts of a case, oldest first.
pub fn of_case(sql: &mut dyn Sql, case_id: &str) -> Result<Vec<Alert>, StoreError> {
    sql.query(
        &format!("SELECT {COLUMNS} FROM aml_alerts WHERE case_id = $1 ORDER BY created_at_ms, id"),
        &[case_id.into()],
    )?
    .iter()
    .map(decode)
    .collect()
}

/// What `GET /v1/alerts` filters on; all optional.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub payment_id: Option<String>,
    pub invoice_id: Option<String>,
    pub customer_id: Option<String>,
    pub state: Option<AlertState>,
    /// Alerts created before this one (its `created_at_ms`, id), for the next page.
    pub before: Option<(i64, String)>,
    pub limit: u32,
}

/// Alerts, newest first, one page.
pub fn list(sql: &mut dyn Sql, f: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
    let (before_ms, before_id) = f.before.clone().unwrap_or((i64::MAX, String::new()));
    sql.query(
        &format!(
            "SELECT {COLUMNS} FROM aml_alerts WHERE ($1 = '' OR payment_id = $1) \
             AND ($2 = '' OR invoice_id = $2) AND ($3 = '' OR customer_id = $3) \
             AND ($4 = '' OR state = $4) \
             AND (created_at_ms < $5 OR (created_at_ms = $5 AND ($6 = '' OR id < $6))) \
             ORDER BY created_at_ms DESC, id DESC LIMIT $7"
        ),
        &[
            f.payment_id.as_deref().unwrap_or("").into(),
            f.invoice_id.as_deref().unwrap_or("").into(),
            f.customer_id.as_deref().unwrap_or("").into(),
            f.state.map_or("", AlertState::as_str).into(),
            before_ms.into(),
            before_id.as_str().into(),
            kernel::page_limit(f.limit).into(),
        ],
    )?
    .iter()
    .map(decode)
    .collect()
}

/// Decides an open review alert once (audited as `alert.decide`). Returns it decided.
pub fn decide(
    sql: &mut dyn Sql,
    actor: &Actor,
    id: &str,
    decision: AlertDecision,
    reason: &str,
    now_ms: i64,
) -> Result<Alert, ComplianceError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(invalid(
            "reason",
            format!("1 to {MAX_REASON_CHARS} characters"),
        ));
    }
    let alert = get(sql, id)?.ok_or_else(|| ComplianceError::UnknownAlert(id.to_string()))?;
    if alert.state != AlertState::Open || alert.draft.decision != aml::Decision::Review {
        return Err(ComplianceError::AlertDecided(alert.state.as_str()));
    }
    let state = match decision {
        AlertDecision::Release => AlertState::Released,
        AlertDecision::Reject => AlertState::Rejected,
    };
    let changed = sql.execute(
        "UPDATE aml_alerts SET state = $2, decided_by = $3, decision_reason = $4, \
         decided_at_ms = $5 WHERE id = $1 AND state = 'open'",
        &[
            id.into(),
            state.as_str().into(),
            actor.origin.actor_id.as_str().into(),
            reason.into(),
            now_ms.into(),
        ],
    )?;
    if changed == 0 {
        return Err(ComplianceError::AlertDecided("decided"));
    }
    actor.audit(
        sql,
        now_ms,
        None,
        "alert.decide",
        &format!("alert:{id}"),
        Some(format!("{}: {reason}", state.as_str())),
    )?;
    Ok(Alert {
        state,
        decided_by: Some(actor.origin.actor_id.clone()),
        decision_reason: Some(reason.to_string()),
        decided_at_ms: Some(now_ms),
        ..alert
    })
}

/// Closes the subject's other open review alerts as rejected with the same reason (one
/// rejection decides the subject; the rest have nothing left to hold).
pub fn reject_others(
    sql: &mut dyn Sql,
    actor: &Actor,
    subject: Subject<'_>,
    reason: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    sql.execute(
        &format!(
            "UPDATE aml_alerts SET state = 'rejected', decided_by = $2, decision_reason = $3, \
             decided_at_ms = $4 WHERE {} = $1 AND state = 'open' AND decision = 'review'",
            subject.column()
        ),
        &[
            subject.id().into(),
            actor.origin.actor_id.as_str().into(),
            reason.into(),
            now_ms.into(),
        ],
    )?;
    Ok(())
}
