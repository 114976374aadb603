//! The compliance report of a month or a quarter, as JSON or (with `Accept: text/csv`) as
//! CSV rows of `section,key,value` for a spreadsheet. Compliance role, platform audience.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gateway::ComplianceReport;
use kernel::rfc3339;
use serde::Serialize;

use crate::extract::PathParams;
use crate::problem::Problem;
use crate::ApiState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertCountView {
    pub rule: String,
    /// `review` or `block`.
    pub decision: String,
    /// `open`, `released` or `rejected`.
    pub state: String,
    pub count: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyCountView {
    pub key: String,
    pub count: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListInForceView {
    pub list: String,
    pub version: i64,
    pub list_date: Option<String>,
    pub entries: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ComplianceReportView {
    /// `2026-11` or `2026-Q4`.
    pub period: String,
    /// The period's first instant (UTC).
    pub from: String,
    /// The instant after its last (UTC).
    pub to: String,
    /// Outgoing payments screened and monitored (refused attempts included).
    pub payments_screened: u64,
    pub payments_blocked_by_screening: u64,
    pub receipts_monitored: u64,
    /// Alerts raised in the period by rule, decision and state.
    pub alerts: Vec<AlertCountView>,
    pub cases_opened: u64,
    /// Cases closed in the period by how they closed.
    pub cases_closed: Vec<KeyCountView>,
    pub reports_filed: u64,
    pub reports_filed_on_time: u64,
    /// Reports due in the period not filed by their due time.
    pub reports_late: u64,
    /// Payments in or out above the large-payment threshold (5,000 EUR by default).
    pub large_transactions: u64,
    pub customers_by_risk: Vec<KeyCountView>,
    pub reviews_due: u64,
    pub reviews_overdue: u64,
    pub lists_in_force: Vec<ListInForceView>,
}

fn key_counts(rows: Vec<compliance::period_report::KeyCount>) -> Vec<KeyCountView> {
    rows.into_iter()
        .map(|k| KeyCountView {
            key: k.key,
            count: k.count,
        })
        .collect()
}

impl From<ComplianceReport> for ComplianceReportView {
    fn from(r: ComplianceReport) -> Self {
        let c = r.compliance;
        Self {
            period: r.period.label,
            from: rfc3339(r.period.start_ms),
            to: rfc3339(r.period.end_ms),
            payments_screened: r.payments_screened,
            payments_blocked_by_screening: r.payments_blocked_by_screening,
            receipts_monitored: r.receipts_monitored,
            alerts: c
                .alerts
                .into_iter()
                .map(|a| AlertCountView {
                    rule: a.rule,
                    decision: a.decision,
                    state: a.state,
                    count: a.count,
                })
                .collect(),
            cases_opened: c.cases_opened,
            cases_closed: key_counts(c.cases_closed),
            reports_filed: c.reports_filed,
            reports_filed_on_time: c.reports_filed_on_time,
            reports_late: c.reports_late,
            large_transactions: c.large_transactions,
            customers_by_risk: key_counts(c.customers_by_risk),
            reviews_due: c.reviews_due,
            reviews_overdue: c.reviews_overdue,
            lists_in_force: c
                .lists_in_force
                .into_iter()
                .map(|l| ListInForceView {
                    list: l.list,
                    version: l.version,
                    list_date: l.list_date,
                    entries: l.entries,
                })
                .collect(),
        }
    }
}

impl ComplianceReportView {
    /// `section,key,value` rows, one figure each.
    fn rows(&self) -> Vec<[String; 3]> {
        let row = |s: &str, k: &str, v: String| [s.to_string(), k.to_string(), v];
        let mut rows = vec![
            row("period", "label", self.period.clone()),
            row("period", "from", self.from.clone()),
            row("period", "to", self.to.clone()),
            row("payments", "screened", self.payments_screened.to_string()),
            row(
                "payments",
                "blocked_by_screening",
                self.payments_blocked_by_screening.to_string(),
            ),
            row("receipts", "monitored", self.receipts_monitored.to_string()),
        ];
        rows.extend(self.alerts.iter().map(|a| {
            let key = format!("{}/{}/{}", a.rule, a.decision, a.state);
            row("alerts", &key, a.count.to_string())
        }));
        rows.push(row("cases", "opened", self.cases_opened.to_string()));
        rows.extend(
            self.cases_closed
                .iter()
                .map(|k| row("cases_closed", &k.key, k.count.to_string())),
        );
        rows.push(row("reports", "filed", self.reports_filed.to_string()));
        let on_time = self.reports_filed_on_time.to_string();
        rows.push(row("reports", "filed_on_time", on_time));
        rows.push(row("reports", "late", self.reports_late.to_string()));
        let large = self.large_transactions.to_string();
        rows.push(row("transactions", "large", large));
        rows.extend(
            self.customers_by_risk
                .iter()
                .map(|k| row("customers_by_risk", &k.key, k.count.to_string())),
        );
        rows.push(row("reviews", "due", self.reviews_due.to_string()));
        rows.push(row("reviews", "overdue", self.reviews_overdue.to_string()));
        rows.extend(self.lists_in_force.iter().map(|l| {
            let value = format!(
                "version {} of {}, {} entries",
                l.version,
                l.list_date.as_deref().unwrap_or("an undated list"),
                l.entries
            );
            row("lists_in_force", &l.list, value)
        }));
        rows
    }

    fn to_csv(&self) -> Result<String, Problem> {
        let failed = || {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the report could not be written as CSV",
            )
        };
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(["section", "key", "value"])
            .map_err(|_| failed())?;
        for r in self.rows() {
            out.write_record(&r).map_err(|_| failed())?;
        }
        let bytes = out.into_inner().map_err(|_| failed())?;
        String::from_utf8(bytes).map_err(|_| failed())
    }
}

/// A month's (`2026-11`) or a quarter's (`2026-Q4`) compliance figures; `Accept: text/csv`
/// for CSV (`section,key,value`).
#[utoipa::path(get, path = "/v1/compliance/reports/{period}",
    params(("period" = String, Path, description = "A month (`2026-11`) or a quarter (`2026-Q4`)")),
    responses(
        (status = 200, body = ComplianceReportView, description = "JSON; CSV with `Accept: text/csv`"),
        (status = 422, body = Problem, description = "`invalid_field`: not a month or a quarter"),
    ))]
pub async fn period_report(
    State(state): State<ApiState>,
    headers: HeaderMap,
    PathParams(period): PathParams<String>,
) -> Result<Response, Problem> {
    let report: ComplianceReportView = state.gateway.compliance_report(&period).await?.into();
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().starts_with("text/csv")));
    if wants_csv {
        return Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            report.to_csv()?,
        )
            .into_response());
    }
    Ok(Json(report).into_response())
}
