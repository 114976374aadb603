//! Approval policy versions: list, propose, approve (by a second administrator).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use controls::PolicyVersion;
use kernel::rfc3339;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::extract::{JsonBody, PathParams};
use crate::problem::Problem;
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposePolicy {
    /// Approvers, groups and ordered rules (docs/approvals.md).
    #[schema(value_type = Object)]
    pub policy: approvals::Policy,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyVersionView {
    pub version: i64,
    /// proposed, active or superseded.
    pub state: String,
    #[schema(value_type = Object)]
    pub policy: approvals::Policy,
    pub proposed_by: String,
    pub proposed_at: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<String>,
}

impl From<PolicyVersion> for PolicyVersionView {
    fn from(v: PolicyVersion) -> Self {
        Self {
            version: v.version,
            state: v.state.as_str().to_string(),
            policy: v.policy,
            proposed_by: v.proposed_by,
            proposed_at: rfc3339(v.proposed_at_ms),
            approved_by: v.approved_by,
            approved_at: v.approved_at_ms.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyVersions {
    pub data: Vec<PolicyVersionView>,
}

/// Every policy version, newest first.
#[utoipa::path(get, path = "/v1/approval-policies",
    responses((status = 200, body = PolicyVersions)))]
pub async fn list_policies(State(state): State<ApiState>) -> Result<Json<PolicyVersions>, Problem> {
    let data = state.gateway.policy_versions().await?;
    Ok(Json(PolicyVersions {
        data: data.into_iter().map(Into::into).collect(),
    }))
}

/// Propose a new policy version; it takes effect when a second administrator approves it.
#[utoipa::path(post, path = "/v1/approval-policies", request_body = ProposePolicy,
    responses(
        (status = 201, body = PolicyVersionView),
        (status = 422, body = Problem, description = "`invalid_field`: the policy does not \
            validate (docs/approvals.md)"),
    ))]
pub async fn propose_policy(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<ProposePolicy>,
) -> Result<(StatusCode, Json<PolicyVersionView>), Problem> {
    let proposed = state
        .gateway
        .propose_policy(&caller.actor, body.value.policy)
        .await?;
    Ok((StatusCode::CREATED, Json(proposed.into())))
}

/// Put a proposed version in force; refused (403) to its proposer.
#[utoipa::path(post, path = "/v1/approval-policies/{version}/approve",
    params(("version" = String, Path, description = "The proposed version's number")),
    responses(
        (status = 200, body = PolicyVersionView),
        (status = 403, body = Problem, description = "`second_admin_required`: the proposer, \
            or a credential of the proposer's, may not approve"),
        (status = 404, body = Problem, description = "`policy_not_found`"),
        (status = 409, body = Problem, description = "`policy_not_proposed`: already active \
            or superseded"),
    ))]
pub async fn approve_policy(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(version): PathParams<String>,
) -> Result<Json<PolicyVersionView>, Problem> {
    // Not a number: no such version.
    let version: i64 = version.parse().map_err(|_| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "policy_not_found",
            format!("no approval policy version {version:?}"),
        )
    })?;
    Ok(Json(
        state
            .gateway
            .approve_policy(&caller.actor, version)
            .await?
            .into(),
    ))
}
