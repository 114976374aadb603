//! Cases and suspicious activity reports for compliance officers (platform audience: no
//! tenant credential sees one — tipping off is an offence): alerts grouped into a case,
//! findings noted, a report drafted with its due time, exported as JSON or goAML XML, and
//! marked filed with the financial intelligence unit's reference.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use compliance::{Case, CaseChange, CaseState, Note, ReportRecord};
use kernel::rfc3339;
use serde::{Deserialize, Serialize};

use crate::alerts::AlertView;
use crate::auth::Caller;
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::problem::Problem;
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenCase {
    /// 1 to 100 alerts of one tenant (and one customer), in no other case.
    pub alert_ids: Vec<String>,
    /// The customer the case is about; default: the one the alerts share.
    pub customer_id: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddNote {
    /// The finding (1 to 4,000 characters); `body` and `note` are taken as well.
    #[serde(alias = "body", alias = "note")]
    pub text: String,
    /// A pointer to evidence kept elsewhere: a document's hash, a ticket (≤ 1,000).
    pub evidence: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCase {
    /// `investigating`, `closed_false_positive` or `closed_no_action` (filing the report
    /// closes a case as `closed_reported`).
    pub state: Option<String>,
    /// The officer the case is handed to.
    pub owner: Option<String>,
    /// Why, for the record (1 to 500 characters).
    pub reason: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileReport {
    /// The unit's reference for the filed report (1 to 100 characters).
    pub reference: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CaseQuery {
    /// `open`, `investigating`, `closed_false_positive`, `closed_no_action` or
    /// `closed_reported`.
    pub state: Option<String>,
    pub customer_id: Option<String>,
    /// Rows per page (default 100, at most 500).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `json` (default) or `goaml` (goAML XML, `application/xml`).
    pub format: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NoteView {
    pub seq: u64,
    pub author: String,
    pub text: String,
    pub evidence: Option<String>,
    pub created_at: String,
}

impl From<Note> for NoteView {
    fn from(n: Note) -> Self {
        Self {
            seq: n.seq,
            author: n.author,
            text: n.body,
            evidence: n.evidence,
            created_at: rfc3339(n.created_at_ms),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportView {
    pub id: String,
    pub case_id: String,
    /// `draft` or `filed`.
    pub state: String,
    /// 24 hours (configurable) after the case's first detection.
    pub due_at: String,
    pub created_by: String,
    pub created_at: String,
    /// The unit's reference, once filed.
    pub reference: Option<String>,
    pub filed_by: Option<String>,
    pub filed_at: Option<String>,
}

impl From<ReportRecord> for ReportView {
    fn from(r: ReportRecord) -> Self {
        Self {
            id: r.id,
            case_id: r.case_id,
            state: r.state.as_str().to_string(),
            due_at: rfc3339(r.due_at_ms),
            created_by: r.created_by,
            created_at: rfc3339(r.created_at_ms),
            reference: r.reference,
            filed_by: r.filed_by,
            filed_at: r.filed_at_ms.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseView {
    pub id: String,
    pub tenant_id: String,
    pub customer_id: Option<String>,
    pub owner: String,
    /// `open`, `investigating`, `closed_false_positive`, `closed_no_action` or
    /// `closed_reported`.
    pub state: String,
    /// When its oldest alert was raised (the report's clock starts here).
    pub detected_at: String,
    pub created_at: String,
    pub closed_at: Option<String>,
    /// Oldest first.
    pub alerts: Vec<AlertView>,
    pub notes: Vec<NoteView>,
    pub sar: Option<ReportView>,
}

impl From<Case> for CaseView {
    fn from(c: Case) -> Self {
        Self {
            id: c.id,
            tenant_id: c.tenant_id,
            customer_id: c.customer_id,
            owner: c.owner,
            state: c.state.as_str().to_string(),
            detected_at: rfc3339(c.detected_at_ms),
            created_at: rfc3339(c.created_at_ms),
            closed_at: c.closed_at_ms.map(rfc3339),
            alerts: c.alerts.into_iter().map(Into::into).collect(),
            notes: c.notes.into_iter().map(Into::into).collect(),
            sar: c.report.map(Into::into),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CasePage {
    /// Newest first.
    pub data: Vec<CaseView>,
}

/// The JSON export: the report's record and its content (the same model as goAML's).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportExport {
    pub sar: ReportView,
    /// Subject, narrative, transactions (msat, EUR cents, rate), indicators; frozen once
    /// filed.
    #[schema(value_type = Object)]
    pub report: goaml::Report,
}

/// Open a case over alerts; the caller owns it.
#[utoipa::path(post, path = "/v1/cases", request_body = OpenCase,
    responses(
        (status = 201, body = CaseView),
        (status = 404, body = Problem, description = "`alert_not_found`, `customer_not_found`"),
        (status = 409, body = Problem, description = "`alert_in_case`"),
        (status = 422, body = Problem, description = "`invalid_field`: no alerts, more than \
            100, one twice, alerts of several tenants or customers"),
    ))]
pub async fn open_case(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<OpenCase>,
) -> Result<(StatusCode, Json<CaseView>), Problem> {
    let b = body.value;
    let case = state
        .gateway
        .open_case(&caller.actor, b.alert_ids, b.customer_id)
        .await?;
    Ok((StatusCode::CREATED, Json(case.into())))
}

/// Cases, newest first.
#[utoipa::path(get, path = "/v1/cases", params(CaseQuery),
    responses((status = 200, body = CasePage)))]
pub async fn list_cases(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<CaseQuery>,
) -> Result<Json<CasePage>, Problem> {
    let case_state = q
        .state
        .as_deref()
        .map(|s| {
            s.parse::<CaseState>().map_err(|_| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    "state must be open, investigating, closed_false_positive, \
                     closed_no_action or closed_reported",
                )
            })
        })
        .transpose()?;
    let cases = state
        .gateway
        .cases(
            case_state,
            q.customer_id,
            q.limit.unwrap_or(kernel::DEFAULT_PAGE),
        )
        .await?;
    Ok(Json(CasePage {
        data: cases.into_iter().map(Into::into).collect(),
    }))
}

/// A case: its alerts, notes and report.
#[utoipa::path(get, path = "/v1/cases/{id}",
    params(("id" = String, Path, description = "The case's id")),
    responses(
        (status = 200, body = CaseView),
        (status = 404, body = Problem, description = "`case_not_found`"),
    ))]
pub async fn get_case(
    State(state): State<ApiState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<CaseView>, Problem> {
    Ok(Json(state.gateway.case(&id).await?.into()))
}

/// Move a case (investigating, closed as a false positive or with no action) or hand it
/// to another officer, with a reason.
#[utoipa::path(patch, path = "/v1/cases/{id}", request_body = UpdateCase,
    params(("id" = String, Path, description = "The case's id")),
    responses(
        (status = 200, body = CaseView),
        (status = 404, body = Problem, description = "`case_not_found`"),
        (status = 409, body = Problem, description = "`case_closed`, or `report_pending`: \
            its drafted report is not filed"),
        (status = 422, body = Problem, description = "`invalid_field`"),
    ))]
pub async fn update_case(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
    body: JsonBody<UpdateCase>,
) -> Result<Json<CaseView>, Problem> {
    let b = body.value;
    let change = CaseChange {
        state: b.state,
        owner: b.owner,
        reason: b.reason,
    };
    Ok(Json(
        state
            .gateway
            .change_case(&caller.actor, &id, change)
            .await?
            .into(),
    ))
}

/// Add a finding to a case (an open case moves to investigating).
#[utoipa::path(post, path = "/v1/cases/{id}/notes", request_body = AddNote,
    params(("id" = String, Path, description = "The case's id")),
    responses(
        (status = 201, body = CaseView),
        (status = 404, body = Problem, description = "`case_not_found`"),
        (status = 409, body = Problem, description = "`case_closed`"),
        (status = 422, body = Problem, description = "`invalid_field`"),
    ))]
pub async fn add_note(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
    body: JsonBody<AddNote>,
) -> Result<(StatusCode, Json<CaseView>), Problem> {
    let b = body.value;
    let case = state
        .gateway
        .add_case_note(&caller.actor, &id, b.text, b.evidence)
        .await?;
    Ok((StatusCode::CREATED, Json(case.into())))
}

/// Draft the case's suspicious activity report, due 24 hours (configurable) after the
/// case's first detection. A case has one report: asked again, this answers it (200).
#[utoipa::path(post, path = "/v1/cases/{id}/sar",
    params(("id" = String, Path, description = "The case's id")),
    responses(
        (status = 201, body = ReportView, description = "Drafted"),
        (status = 200, body = ReportView, description = "The case's report, drafted before"),
        (status = 404, body = Problem, description = "`case_not_found`"),
        (status = 409, body = Problem, description = "`case_closed`"),
    ))]
pub async fn draft_report(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
) -> Result<(StatusCode, Json<ReportView>), Problem> {
    let (report, created) = state.gateway.draft_report(&caller.actor, &id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(report.into())))
}

/// The case's report as JSON or goAML XML: as filed once filed, else as the case stands.
#[utoipa::path(get, path = "/v1/cases/{id}/sar", params(
        ("id" = String, Path, description = "The case's id"), ReportQuery),
    responses(
        (status = 200, body = ReportExport, description = "`format=json`; with `format=goaml` \
            goAML XML (`application/xml`)"),
        (status = 404, body = Problem, description = "`case_not_found`, `report_not_found`"),
        (status = 409, body = Problem, description = "`report_without_transactions`: goAML \
            needs a transaction; the JSON export has the case"),
        (status = 400, body = Problem, description = "`invalid_query`: an unknown format"),
    ))]
pub async fn export_report(
    State(state): State<ApiState>,
    PathParams(id): PathParams<String>,
    QueryParams(q): QueryParams<ReportQuery>,
) -> Result<Response, Problem> {
    let goaml = match q.format.as_deref() {
        None | Some("json") => false,
        Some("goaml") => true,
        Some(_) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "format must be json or goaml",
            ))
        }
    };
    let (record, report) = state.gateway.report(&id).await?;
    if !goaml {
        return Ok(Json(ReportExport {
            sar: record.into(),
            report,
        })
        .into_response());
    }
    if report.transactions.is_empty() {
        return Err(compliance::ComplianceError::NoTransactions.into());
    }
    Ok((
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        report.to_goaml_xml(),
    )
        .into_response())
}

/// Mark the case's report filed with the unit's reference: its content is frozen as
/// filed and the case closes as reported.
#[utoipa::path(post, path = "/v1/cases/{id}/sar/filed", request_body = FileReport,
    params(("id" = String, Path, description = "The case's id")),
    responses(
        (status = 200, body = ReportView),
        (status = 404, body = Problem, description = "`case_not_found`, `report_not_found`"),
        (status = 409, body = Problem, description = "`report_filed`"),
        (status = 422, body = Problem, description = "`invalid_field`: the reference"),
    ))]
pub async fn file_report(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
    body: JsonBody<FileReport>,
) -> Result<Json<ReportView>, Problem> {
    let report = state
        .gateway
        .file_report(&caller.actor, &id, body.value.reference)
        .await?;
    Ok(Json(report.into()))
}
