//! Monitoring alerts for compliance officers (platform audience: a tenant's credential
//! never sees one, so a customer cannot be tipped off): the list, and the decision that
//! releases or rejects the payment an alert holds.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use compliance::{Alert, AlertDecision, AlertFilter, AlertState};
use kernel::rfc3339;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::problem::Problem;
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    pub payment_id: Option<String>,
    pub invoice_id: Option<String>,
    pub customer_id: Option<String>,
    /// `open`, `released` or `rejected`.
    pub state: Option<String>,
    /// Rows per page (default 100, at most 500).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    pub id: String,
    /// The rule that fired (`large_payment`, `daily_aggregate`, `structuring`, …).
    pub rule: String,
    pub rule_version: u32,
    /// `review` (the payment is held) or `block` (it was refused).
    pub decision: String,
    /// `in` or `out`; null for an alert about the customer itself (a sanctions match at
    /// rescreening, a review past due).
    pub direction: Option<String>,
    pub payment_id: Option<String>,
    pub invoice_id: Option<String>,
    pub customer_id: Option<String>,
    pub tenant_id: String,
    pub account_id: String,
    /// How far past its threshold, in [0, 1].
    pub score: f64,
    pub evidence: String,
    pub eur_cents: u64,
    /// The EUR rate the payment was judged at, and its source.
    pub eur_rate: String,
    /// `open`, `released` or `rejected`.
    pub state: String,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub decided_at: Option<String>,
    pub created_at: String,
}

impl From<Alert> for AlertView {
    fn from(a: Alert) -> Self {
        Self {
            id: a.id,
            rule: a.draft.rule,
            rule_version: a.draft.rule_version,
            decision: a.draft.decision.as_str().to_string(),
            direction: a.draft.direction.map(|d| d.as_str().to_string()),
            payment_id: a.payment_id,
            invoice_id: a.invoice_id,
            customer_id: a.draft.customer_id,
            tenant_id: a.draft.tenant_id,
            account_id: a.draft.account_id,
            score: a.draft.score,
            evidence: a.draft.evidence,
            eur_cents: a.draft.eur_cents,
            eur_rate: a.draft.eur_rate,
            state: a.state.as_str().to_string(),
            decided_by: a.decided_by,
            decision_reason: a.decision_reason,
            decided_at: a.decided_at_ms.map(rfc3339),
            created_at: rfc3339(a.created_at_ms),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertPage {
    /// Newest first.
    pub data: Vec<AlertView>,
}

/// Alerts, newest first, filtered by payment, invoice, customer or state.
#[utoipa::path(get, path = "/v1/alerts", params(AlertQuery),
    responses((status = 200, body = AlertPage)))]
pub async fn list_alerts(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<AlertQuery>,
) -> Result<Json<AlertPage>, Problem> {
    let alert_state = q
        .state
        .as_deref()
        .map(|s| {
            s.parse::<AlertState>().map_err(|_| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    "state must be open, released or rejected",
                )
            })
        })
        .transpose()?;
    let alerts = state
        .gateway
        .alerts(AlertFilter {
            payment_id: q.payment_id,
            invoice_id: q.invoice_id,
            customer_id: q.customer_id,
            state: alert_state,
            before: None,
            limit: q.limit.unwrap_or(kernel::DEFAULT_PAGE),
        })
        .await?;
    Ok(Json(AlertPage {
        data: alerts.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideAlert {
    /// `release` (the payment goes on once no review alert holds it) or `reject` (the
    /// payment is rejected and its funds released).
    pub decision: String,
    /// Why, for the record (1 to 500 characters).
    pub reason: String,
}

/// Release or reject a review alert and the payment it holds.
#[utoipa::path(post, path = "/v1/alerts/{id}/decide", request_body = DecideAlert,
    params(("id" = String, Path, description = "The alert's id")),
    responses(
        (status = 200, body = AlertView),
        (status = 404, body = Problem, description = "`alert_not_found`"),
        (status = 409, body = Problem, description = "`alert_decided`: decided already, or a \
            block (which takes no decision)"),
        (status = 422, body = Problem, description = "`invalid_field`: the decision or the \
            reason"),
    ))]
pub async fn decide_alert(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
    body: JsonBody<DecideAlert>,
) -> Result<Json<AlertView>, Problem> {
    let decision: AlertDecision = body
        .value
        .decision
        .parse()
        .map_err(|_| Problem::invalid("decision must be release or reject"))?;
    let alert = state
        .gateway
        .decide_alert(&caller.actor, &id, decision, &body.value.reason)
        .await?;
    Ok(Json(alert.into()))
}
