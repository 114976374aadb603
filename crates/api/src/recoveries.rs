//! Emergency recoveries: an administrator asks for a node's funds to be swept to a
//! recovery address; the approval policy's emergency quorum decides (docs/approvals.md).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use gateway::{NewRecovery, Recovery};
use kernel::rfc3339;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::problem::Problem;
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRecovery {
    /// The node whose channels are closed and whose wallet is swept.
    pub node: String,
    /// Where everything goes (an address on the gateway's network; cold storage).
    pub address: String,
    /// Why, for the approvers and the audit trail (1 to 500 characters).
    pub reason: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecoveryQuery {
    /// Recovery id to list before (newest first).
    pub before: Option<String>,
    /// Rows per page (default 100, at most 500).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecoveryView {
    /// Also the id of its approval request (`/v1/approvals/{id}`).
    pub id: String,
    pub kind: String,
    pub node: String,
    pub address: String,
    pub reason: String,
    pub initiator: String,
    /// awaiting_approval, closing, sweeping, succeeded or rejected.
    pub state: String,
    /// What the ledger said the node held: at the request, then as booked.
    pub ledger_msat: i64,
    pub txid: Option<String>,
    pub swept_msat: Option<i64>,
    pub fee_msat: Option<i64>,
    pub failure_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Recovery> for RecoveryView {
    fn from(r: Recovery) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            node: r.node,
            address: r.address,
            reason: r.reason,
            initiator: r.initiator,
            state: r.state.as_str().to_string(),
            ledger_msat: r.ledger_msat,
            txid: r.txid,
            swept_msat: r.swept_msat,
            fee_msat: r.fee_msat,
            failure_reason: r.failure_reason,
            created_at: rfc3339(r.created_at_ms),
            updated_at: rfc3339(r.updated_at_ms),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecoveryPage {
    pub data: Vec<RecoveryView>,
    pub next_before: Option<String>,
}

/// Ask for a node's funds to be swept to a recovery address. It waits for the approval
/// policy's emergency quorum (`/v1/approvals/{id}`); refused while no policy is in force.
#[utoipa::path(post, path = "/v1/recoveries", request_body = CreateRecovery,
    responses(
        (status = 201, body = RecoveryView),
        (status = 404, body = Problem, description = "`node_not_found`"),
        (status = 409, body = Problem, description = "`no_policy_in_force` or \
            `recovery_in_progress` for that node"),
        (status = 422, body = Problem, description = "`invalid_field` (address or reason), \
            `blocked_by_policy`, or `compliance_blocked` (the address is on a sanctions list \
            or the watchlist)"),
    ))]
pub async fn create_recovery(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<CreateRecovery>,
) -> Result<(StatusCode, Json<RecoveryView>), Problem> {
    let body = body.value;
    let recovery = state
        .gateway
        .request_recovery(
            &caller.actor,
            NewRecovery {
                node: body.node,
                address: body.address,
                reason: body.reason,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(recovery.into())))
}

/// Recoveries, newest first.
#[utoipa::path(get, path = "/v1/recoveries", params(RecoveryQuery),
    responses((status = 200, body = RecoveryPage)))]
pub async fn list_recoveries(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<RecoveryQuery>,
) -> Result<Json<RecoveryPage>, Problem> {
    let limit = q.limit.unwrap_or(kernel::DEFAULT_PAGE);
    let page = state.gateway.recoveries(q.before, limit).await?;
    Ok(Json(RecoveryPage {
        next_before: crate::extract::next_after(&page, limit, |r| r.id.clone()),
        data: page.into_iter().map(Into::into).collect(),
    }))
}

/// One recovery and how far it got.
#[utoipa::path(get, path = "/v1/recoveries/{id}",
    params(("id" = String, Path, description = "The recovery's id")),
    responses(
        (status = 200, body = RecoveryView),
        (status = 404, body = Problem, description = "`recovery_not_found`"),
    ))]
pub async fn get_recovery(
    State(state): State<ApiState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<RecoveryView>, Problem> {
    Ok(Json(state.gateway.recovery(&id).await?.into()))
}
