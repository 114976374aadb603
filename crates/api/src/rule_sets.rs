//! Monitoring rule set versions: list, propose a change, approve it (a second person).
//! Compliance role, platform audience.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use compliance::RuleSetVersion;
use kernel::rfc3339;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::extract::{JsonBody, PathParams};
use crate::problem::Problem;
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeRules {
    /// The parameters to change, merged over the version in force, e.g.
    /// `{"large_payment_eur_cents": 1000000, "structuring": {"decision": "block"}}`
    /// (docs/compliance.md lists them).
    #[schema(value_type = Object)]
    pub rules: serde_json::Map<String, serde_json::Value>,
    /// Why: kept with the version and in the audit trail.
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleSetView {
    pub version: i64,
    /// proposed, active or superseded.
    pub state: String,
    /// Every parameter of the version.
    #[schema(value_type = Object)]
    pub rules: serde_json::Value,
    /// The version in force when it was proposed.
    pub based_on: Option<i64>,
    pub reason: String,
    pub proposed_by: String,
    pub proposed_at: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<String>,
}

impl From<RuleSetVersion> for RuleSetView {
    fn from(v: RuleSetVersion) -> Self {
        Self {
            version: v.version,
            state: v.state.as_str().to_string(),
            rules: serde_json::to_value(&v.rules).unwrap_or_default(),
            based_on: v.based_on,
            reason: v.reason,
            proposed_by: v.proposed_by,
            proposed_at: rfc3339(v.proposed_at_ms),
            approved_by: v.approved_by,
            approved_at: v.approved_at_ms.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleSetVersions {
    pub data: Vec<RuleSetView>,
}

/// Every monitoring rule set version, newest first; the one in force is `active`.
#[utoipa::path(get, path = "/v1/compliance/rules",
    responses((status = 200, body = RuleSetVersions)))]
pub async fn list_rule_sets(
    State(state): State<ApiState>,
) -> Result<Json<RuleSetVersions>, Problem> {
    let data = state.gateway.rule_sets().await?;
    Ok(Json(RuleSetVersions {
        data: data.into_iter().map(Into::into).collect(),
    }))
}

/// Propose a change to the monitoring rules; it takes effect when a second person
/// approves it.
#[utoipa::path(post, path = "/v1/compliance/rules", request_body = ProposeRules,
    responses(
        (status = 201, body = RuleSetView),
        (status = 422, body = Problem, description = "`invalid_field`: an unknown parameter, \
            a value of the wrong kind or out of range, or no reason"),
    ))]
pub async fn propose_rules(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<ProposeRules>,
) -> Result<(StatusCode, Json<RuleSetView>), Problem> {
    let ProposeRules { rules, reason } = body.value;
    let proposed = state
        .gateway
        .propose_rules(&caller.actor, rules, reason)
        .await?;
    Ok((StatusCode::CREATED, Json(proposed.into())))
}

/// Put a proposed version in force; refused (403) to its proposer, and (409) when another
/// version came into force since it was proposed.
#[utoipa::path(post, path = "/v1/compliance/rules/{version}/approve",
    params(("version" = String, Path, description = "The proposed version's number")),
    responses(
        (status = 200, body = RuleSetView),
        (status = 403, body = Problem, description = "`second_person_required`"),
        (status = 404, body = Problem, description = "`rule_set_not_found`"),
        (status = 409, body = Problem, description = "`rule_set_not_proposed`: active or \
            superseded already; `rule_set_stale`: proposed against a version no longer in force"),
    ))]
pub async fn approve_rules(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(version): PathParams<String>,
) -> Result<Json<RuleSetView>, Problem> {
    // Not a number: no such version.
    let number: i64 = version.parse().map_err(|_| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "rule_set_not_found",
            format!("no monitoring rule set version {version:?}"),
        )
    })?;
    Ok(Json(
        state
            .gateway
            .approve_rules(&caller.actor, number)
            .await?
            .into(),
    ))
}
