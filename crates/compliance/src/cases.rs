//! Cases in the store: alerts an officer groups (one tenant, at most one customer), the
//! owner, the state, the notes (append-only), and the case's suspicious activity report
//! (drafted once, due a configured time after the case's first detection, filed once with
//! the financial intelligence unit's reference, its content then frozen). Every change is
//! audited without a tenant (platform-only: a tenant's view of the audit trail must not
//! tip its customer off). Functions over the caller's transaction.

use audit::AuditAction;
use kernel::Actor;
use store::{Row, Sql, StoreError, Value};

use crate::alerts::{self, Alert};
use crate::error::invalid;
use crate::{customers, ComplianceError};

/// A case groups at most this many alerts (a page of them).
pub const MAX_CASE_ALERTS: usize = 100;
/// Notes per case: an investigation that needs more is several cases.
pub const MAX_NOTES: u64 = 200;
const MAX_NOTE_CHARS: usize = 4_000;
const MAX_EVIDENCE_CHARS: usize = 1_000;
const MAX_REASON_CHARS: usize = 500;
const MAX_REFERENCE_CHARS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum CaseState {
    Open,
    /// An officer has added a finding.
    Investigating,
    ClosedFalsePositive,
    ClosedNoAction,
    /// Its report was filed.
    ClosedReported,
}

impl CaseState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn is_closed(self) -> bool {
        matches!(
            self,
            CaseState::ClosedFalsePositive | CaseState::ClosedNoAction | CaseState::ClosedReported
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ReportState {
    Draft,
    Filed,
}

impl ReportState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub seq: u64,
    pub author: String,
    pub body: String,
    /// A pointer to evidence kept elsewhere (a document's hash, a ticket).
    pub evidence: Option<String>,
    pub created_at_ms: i64,
}

/// A case's suspicious activity report, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRecord {
    pub id: String,
    pub case_id: String,
    pub state: ReportState,
    pub due_at_ms: i64,
    pub created_by: String,
    pub created_at_ms: i64,
    pub reference: Option<String>,
    pub filed_by: Option<String>,
    pub filed_at_ms: Option<i64>,
    /// The report as filed (JSON), frozen.
    pub filed_report: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub id: String,
    pub tenant_id: String,
    pub customer_id: Option<String>,
    pub owner: String,
    pub state: CaseState,
    /// When its oldest alert was raised: the report's clock starts here.
    pub detected_at_ms: i64,
    pub created_at_ms: i64,
    pub closed_at_ms: Option<i64>,
    /// Oldest first.
    pub alerts: Vec<Alert>,
    pub notes: Vec<Note>,
    pub report: Option<ReportRecord>,
}

/// A change to a case by an officer; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct CaseChange {
    /// `investigating`, `closed_false_positive` or `closed_no_action` (a case closes as
    /// reported by filing its report).
    pub state: Option<String>,
    pub owner: Option<String>,
    pub reason: String,
}

const CASE_COLUMNS: &str =
    "id, tenant_id, customer_id, owner, state, detected_at_ms, created_at_ms, closed_at_ms";
const REPORT_COLUMNS: &str = "id, case_id, state, due_at_ms, created_by, created_at_ms, \
    reference, filed_by, filed_at_ms, filed_report";

fn checked_text(
    field: &'static str,
    value: &str,
    max_chars: usize,
) -> Result<String, ComplianceError> {
    let value = value.trim();
    if value.is_empty()
        || value.chars().count() > max_chars
        || value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(invalid(
            field,
            format!("1 to {max_chars} characters, no control characters"),
        ));
    }
    Ok(value.to_string())
}

fn decode_report(row: &Row) -> Result<ReportRecord, StoreError> {
    Ok(ReportRecord {
        id: row.text("id")?.to_string(),
        case_id: row.text("case_id")?.to_string(),
        state: row.parse("state")?,
        due_at_ms: row.i64("due_at_ms")?,
        created_by: row.text("created_by")?.to_string(),
        created_at_ms: row.i64("created_at_ms")?,
        reference: row.opt_text("reference")?.map(str::to_string),
        filed_by: row.opt_text("filed_by")?.map(str::to_string),
        filed_at_ms: row.opt_i64("filed_at_ms")?,
        filed_report: row.opt_text("filed_report")?.map(str::to_string),
    })
}

fn load(sql: &mut dyn Sql, row: &Row) -> Result<Case, StoreError> {
    let id = row.text("id")?.to_string();
    let notes = sql
        .query(
            "SELECT seq, author, body, evidence, created_at_ms FROM aml_case_notes \
             WHERE case_id = $1 ORDER BY seq",
            &[id.as_str().into()],
        )?
        .iter()
        .map(|n| {
            Ok(Note {
                seq: n.u64("seq")?,
                author: n.text("author")?.to_string(),
                body: n.text("body")?.to_string(),
                evidence: n.opt_text("evidence")?.map(str::to_string),
                created_at_ms: n.i64("created_at_ms")?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let report = sql
        .query_opt(
            &format!("SELECT {REPORT_COLUMNS} FROM aml_reports WHERE case_id = $1"),
            &[id.as_str().into()],
        )?
        .as_ref()
        .map(decode_report)
        .transpose()?;
    Ok(Case {
        alerts: alerts::of_case(sql, &id)?,
        tenant_id: row.text("tenant_id")?.to_string(),
        customer_id: row.opt_text("customer_id")?.map(str::to_string),
        owner: row.text("owner")?.to_string(),
        state: row.parse("state")?,
        detected_at_ms: row.i64("detected_at_ms")?,
        created_at_ms: row.i64("created_at_ms")?,
        closed_at_ms: row.opt_i64("closed_at_ms")?,
        id,
        notes,
        report,
    })
}

pub fn get(sql: &mut dyn Sql, id: &str) -> Result<Option<Case>, StoreError> {
    match sql.query_opt(
        &format!("SELECT {CASE_COLUMNS} FROM aml_cases WHERE id = $1"),
        &[id.into()],
    )? {
        Some(row) => Ok(Some(load(sql, &row)?)),
        None => Ok(None),
    }
}

/// The case, its row locked for the caller's transaction (changes to one case queue);
/// what it reads after the lock is what the last change committed.
pub fn get_locked(sql: &mut dyn Sql, id: &str) -> Result<Case, ComplianceError> {
    let lock = sql.dialect().row_lock();
    let row = sql
        .query_opt(
            &format!("SELECT {CASE_COLUMNS} FROM aml_cases WHERE id = $1{lock}"),
            &[id.into()],
        )?
        .ok_or_else(|| ComplianceError::UnknownCase(id.to_string()))?;
    Ok(load(sql, &row)?)
}

/// Cases, newest first, one page, optionally of one state or customer.
pub fn list(
    sql: &mut dyn Sql,
    state: Option<CaseState>,
    customer_id: Option<&str>,
    limit: u32,
) -> Result<Vec<Case>, StoreError> {
    let rows = sql.query(
        &format!(
            "SELECT {CASE_COLUMNS} FROM aml_cases WHERE ($1 = '' OR state = $1) \
             AND ($2 = '' OR customer_id = $2) ORDER BY created_at_ms DESC, id DESC LIMIT $3"
        ),
        &[
            state.map_or("", CaseState::as_str).into(),
            customer_id.unwrap_or("").into(),
            kernel::page_limit(limit).into(),
        ],
    )?;
    rows.iter().map(|row| load(sql, row)).collect()
}

/// Opens a case over `alert_ids` (1 to 100, of one tenant, in no other case), for the
/// customer given or the one the alerts share; the caller owns it.
pub fn open(
    sql: &mut dyn Sql,
    actor: &Actor,
    id: &str,
    alert_ids: &[String],
    customer_id: Option<&str>,
    now_ms: i64,
) -> Result<Case, ComplianceError> {
    if alert_ids.is_empty() || alert_ids.len() > MAX_CASE_ALERTS {
        return Err(invalid(
            "alert_ids",
            format!("1 to {MAX_CASE_ALERTS} alert ids"),
        ));
    }
    let mut found: Vec<Alert> = Vec::with_capacity(alert_ids.len());
    for alert_id in alert_ids {
        if found.iter().any(|a| &a.id == alert_id) {
            return Err(invalid("alert_ids", format!("{alert_id} is given twice")));
        }
        let alert = alerts::get(sql, alert_id)?
            .ok_or_else(|| ComplianceError::UnknownAlert(alert_id.clone()))?;
        found.push(alert);
    }
    let tenant_id = found[0].draft.tenant_id.clone();
    if found.iter().any(|a| a.draft.tenant_id != tenant_id) {
        return Err(invalid("alert_ids", "alerts of one tenant"));
    }
    let alert_customers: Vec<&str> = found
        .iter()
        .filter_map(|a| a.draft.customer_id.as_deref())
        .collect();
    let customer_id = match customer_id {
        Some(given) => {
            let customer = customers::get(sql, given)?.ok_or(ComplianceError::UnknownCustomer)?;
            if customer.tenant_id != tenant_id || alert_customers.iter().any(|c| *c != given) {
                return Err(invalid(
                    "customer_id",
                    "the customer of the alerts (a case is about one customer)",
                ));
            }
            Some(given.to_string())
        }
        None => match alert_customers.first() {
            Some(first) if alert_customers.iter().all(|c| c == first) => Some(first.to_string()),
            Some(_) => {
                return Err(invalid(
                    "alert_ids",
                    "alerts of one customer (a case is about one customer)",
                ))
            }
            None => None,
        },
    };
    let detected_at_ms = found
        .iter()
        .map(|a| a.created_at_ms)
        .min()
        .unwrap_or(now_ms);
    sql.execute(
        &format!(
            "INSERT INTO aml_cases ({CASE_COLUMNS}) VALUES ($1, $2, $3, $4, 'open', $5, $6, NULL)"
        ),
        &[
            id.into(),
            tenant_id.as_str().into(),
            customer_id.as_deref().map_or(Value::Null, Value::from),
            actor.origin.actor_id.as_str().into(),
            detected_at_ms.into(),
            now_ms.into(),
        ],
    )?;
    // In id order: two officers claiming overlapping alerts lock them in one order.
    found.sort_by(|a, b| a.id.cmp(&b.id));
    for alert in &found {
        // Conditional: of two officers racing for one alert, the second is refused.
        let claimed = sql.execute(
            "UPDATE aml_alerts SET case_id = $2 WHERE id = $1 AND case_id IS NULL",
            &[alert.id.as_str().into(), id.into()],
        )?;
        if claimed == 0 {
            return Err(ComplianceError::AlertInCase(alert.id.clone()));
        }
    }
    actor.audit(
        sql,
        now_ms,
        None,
        "case.open",
        &format!("case:{id}"),
        Some(format!("alerts: {}", alert_ids.join(", "))),
    )?;
    get(sql, id)?.ok_or_else(|| ComplianceError::UnknownCase(id.to_string()))
}

/// Appends an officer's finding; the first one moves an open case to `investigating`.
pub fn add_note(
    sql: &mut dyn Sql,
    actor: &Actor,
    case_id: &str,
    body: &str,
    evidence: Option<&str>,
    now_ms: i64,
) -> Result<Case, ComplianceError> {
    let body = checked_text("text", body, MAX_NOTE_CHARS)?;
    let evidence = evidence
        .map(|e| checked_text("evidence", e, MAX_EVIDENCE_CHARS))
        .transpose()?;
    let case = get_locked(sql, case_id)?;
    if case.state.is_closed() {
        return Err(ComplianceError::CaseClosed(case.state.as_str()));
    }
    let seq = case.notes.len() as u64 + 1;
    if seq > MAX_NOTES {
        return Err(invalid(
            "text",
            format!("a case takes at most {MAX_NOTES} notes"),
        ));
    }
    sql.execute(
        "INSERT INTO aml_case_notes (case_id, seq, author, body, evidence, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            case_id.into(),
            seq.into(),
            actor.origin.actor_id.as_str().into(),
            body.as_str().into(),
            evidence.as_deref().map_or(Value::Null, Value::from),
            now_ms.into(),
        ],
    )?;
    sql.execute(
        "UPDATE aml_cases SET state = 'investigating' WHERE id = $1 AND state = 'open'",
        &[case_id.into()],
    )?;
    actor.audit(
        sql,
        now_ms,
        None,
        "case.note",
        &format!("case:{case_id}"),
        Some(format!("note {seq}")),
    )?;
    get(sql, case_id)?.ok_or_else(|| ComplianceError::UnknownCase(case_id.to_string()))
}

/// Moves a case (to investigating, or closed as a false positive or with no action) or
/// hands it to another owner, with a reason.
pub fn change(
    sql: &mut dyn Sql,
    actor: &Actor,
    case_id: &str,
    change: &CaseChange,
    now_ms: i64,
) -> Result<Case, ComplianceError> {
    let reason = checked_text("reason", &change.reason, MAX_REASON_CHARS)?;
    let state: Option<CaseState> = change
        .state
        .as_deref()
        .map(|s| match s.parse() {
            Ok(
                state @ (CaseState::Investigating
                | CaseState::ClosedFalsePositive
                | CaseState::ClosedNoAction),
            ) => Ok(state),
            _ => Err(invalid(
                "state",
                "investigating, closed_false_positive or closed_no_action (a case closes as \
                 reported when its report is filed)",
            )),
        })
        .transpose()?;
    let owner = change
        .owner
        .as_deref()
        .map(|o| checked_text("owner", o, MAX_REFERENCE_CHARS))
        .transpose()?;
    if state.is_none() && owner.is_none() {
        return Err(invalid("state", "a new state or owner"));
    }
    let case = get_locked(sql, case_id)?;
    if case.state.is_closed() {
        return Err(ComplianceError::CaseClosed(case.state.as_str()));
    }
    if state.is_some_and(CaseState::is_closed)
        && case
            .report
            .as_ref()
            .is_some_and(|r| r.state == ReportState::Draft)
    {
        return Err(ComplianceError::ReportPending(case_id.to_string()));
    }
    let new_state = state.unwrap_or(case.state);
    let new_owner = owner.unwrap_or_else(|| case.owner.clone());
    sql.execute(
        "UPDATE aml_cases SET state = $2, owner = $3, closed_at_ms = $4 WHERE id = $1",
        &[
            case_id.into(),
            new_state.as_str().into(),
            new_owner.as_str().into(),
            new_state
                .is_closed()
                .then_some(now_ms)
                .map_or(Value::Null, Value::from),
        ],
    )?;
    actor.audit(
        sql,
        now_ms,
        None,
        "case.update",
        &format!("case:{case_id}"),
        Some(format!(
            "state {}, owner {new_owner}: {reason}",
            new_state.as_str()
        )),
    )?;
    get(sql, case_id)?.ok_or_else(|| ComplianceError::UnknownCase(case_id.to_string()))
}

/// Drafts the case's report, due `due_after_ms` after the case's first detection; a case
/// has one report, so a second draft answers the first (`false`: nothing was created).
pub fn draft_report(
    sql: &mut dyn Sql,
    actor: &Actor,
    case_id: &str,
    report_id: &str,
    due_after_ms: i64,
    now_ms: i64,
) -> Result<(ReportRecord, bool), ComplianceError> {
    let case = get_locked(sql, case_id)?;
    if let Some(report) = case.report {
        return Ok((report, false));
    }
    if case.state.is_closed() {
        return Err(ComplianceError::CaseClosed(case.state.as_str()));
    }
    let due_at_ms = case.detected_at_ms.saturating_add(due_after_ms);
    sql.execute(
        &format!(
            "INSERT INTO aml_reports ({REPORT_COLUMNS}) VALUES ($1, $2, 'draft', $3, $4, $5, \
             NULL, NULL, NULL, NULL)"
        ),
        &[
            report_id.into(),
            case_id.into(),
            due_at_ms.into(),
            actor.origin.actor_id.as_str().into(),
            now_ms.into(),
        ],
    )?;
    actor.audit(
        sql,
        now_ms,
        None,
        "case.report_draft",
        &format!("case:{case_id}"),
        Some(format!("report {report_id} due at {due_at_ms} ms")),
    )?;
    let report = sql
        .query_opt(
            &format!("SELECT {REPORT_COLUMNS} FROM aml_reports WHERE id = $1"),
            &[report_id.into()],
        )?
        .as_ref()
        .map(decode_report)
        .transpose()?
        .ok_or_else(|| ComplianceError::NoReport(case_id.to_string()))?;
    Ok((report, true))
}

/// Marks the case's report filed with the unit's `reference` and freezes `content` (the
/// report as filed); the case closes as reported.
pub fn file_report(
    sql: &mut dyn Sql,
    actor: &Actor,
    case_id: &str,
    reference: &str,
    content: &str,
    now_ms: i64,
) -> Result<ReportRecord, ComplianceError> {
    let reference = checked_text("reference", reference, MAX_REFERENCE_CHARS)?;
    let case = get_locked(sql, case_id)?;
    let report = case
        .report
        .ok_or_else(|| ComplianceError::NoReport(case_id.to_string()))?;
    if report.state == ReportState::Filed {
        return Err(ComplianceError::ReportFiled(
            report.reference.unwrap_or_default(),
        ));
    }
    sql.execute(
        "UPDATE aml_reports SET state = 'filed', reference = $2, filed_by = $3, \
         filed_at_ms = $4, filed_report = $5 WHERE id = $1",
        &[
            report.id.as_str().into(),
            reference.as_str().into(),
            actor.origin.actor_id.as_str().into(),
            now_ms.into(),
            content.into(),
        ],
    )?;
    sql.execute(
        "UPDATE aml_cases SET state = 'closed_reported', closed_at_ms = $2 WHERE id = $1",
        &[case_id.into(), now_ms.into()],
    )?;
    actor.audit(
        sql,
        now_ms,
        None,
        "case.report_filed",
        &format!("case:{case_id}"),
        Some(format!("report {} filed as {reference}", report.id)),
    )?;
    Ok(ReportRecord {
        state: ReportState::Filed,
        reference: Some(reference),
        filed_by: Some(actor.origin.actor_id.clone()),
        filed_at_ms: Some(now_ms),
        filed_report: Some(content.to_string()),
        ..report
    })
}

/// Reports drafted and not filed by their due time.
pub fn overdue_reports(sql: &mut dyn Sql, now_ms: i64) -> Result<u64, StoreError> {
    let row = sql.query_one(
        "SELECT COUNT(*) AS n FROM aml_reports WHERE state = 'draft' AND due_at_ms < $1",
        &[now_ms.into()],
    )?;
    row.u64("n")
}
