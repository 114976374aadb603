//! The approvals queue: payments held by the approval policy, and approvers' signed votes.

use axum::extract::State;
use axum::{Extension, Json};
use controls::{ApprovalRequest, RequestState};
use gateway::NewVote;
use kernel::rfc3339;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::extract::{next_after, JsonBody, PathParams, QueryParams};
use crate::problem::Problem;
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApprovalQuery {
    /// pending (default), approved, rejected or expired.
    #[param(pattern = "^(pending|approved|rejected|expired)$")]
    pub state: Option<String>,
    /// Payment id to list after.
    pub after: Option<String>,
    /// Rows per page (default 100, at most 500).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CastVote {
    /// The approver's id in the policy.
    pub approver_id: String,
    /// Hex signature over the canonical intent with this vote (docs/approvals.md).
    pub signature: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VoteView {
    pub approver_id: String,
    pub vote: String,
    pub credential: String,
    pub at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApprovalView {
    pub payment_id: String,
    pub tenant_id: String,
    /// pending, approved, rejected or expired.
    pub state: String,
    pub policy_version: i64,
    pub rule: String,
    #[schema(value_type = Object)]
    pub requirement: approvals::Requirement,
    pub initiator: String,
    pub initiator_may_approve: bool,
    pub eur_cents: u64,
    pub rate_eur_cents_per_btc: u64,
    pub rate_source: String,
    /// What approvers sign (with `vote` set to approve or reject).
    #[schema(value_type = Object)]
    pub intent: approvals::Intent,
    /// The exact text to sign to approve, for clients that do not build it themselves.
    pub approve_message: String,
    pub reject_message: String,
    pub expires_at: String,
    pub votes: Vec<VoteView>,
}

impl From<ApprovalRequest> for ApprovalView {
    fn from(r: ApprovalRequest) -> Self {
        let text = |vote| String::from_utf8_lossy(&r.intent.canonical(vote)).to_string();
        Self {
            approve_message: text(approvals::Vote::Approve),
            reject_message: text(approvals::Vote::Reject),
            payment_id: r.payment_id,
            tenant_id: r.tenant_id,
            state: r.state.as_str().to_string(),
            policy_version: r.policy_version,
            rule: r.rule,
            requirement: r.requirement,
            initiator: r.initiator,
            initiator_may_approve: r.initiator_may_approve,
            eur_cents: r.eur_cents,
            rate_eur_cents_per_btc: r.rate_eur_cents_per_btc,
            rate_source: r.rate_source,
            intent: r.intent,
            expires_at: rfc3339(r.expires_at_ms),
            votes: r
                .votes
                .into_iter()
                .map(|v| VoteView {
                    approver_id: v.approver_id,
                    vote: v.vote.as_str().to_string(),
                    credential: v.credential,
                    at: rfc3339(v.at_ms),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApprovalPage {
    pub data: Vec<ApprovalView>,
    pub next_after: Option<String>,
}

fn state_named(name: &str) -> Result<RequestState, Problem> {
    RequestState::from_name(name).ok_or_else(|| {
        Problem::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("state {name:?} is not pending, approved, rejected or expired"),
        )
    })
}

/// Payments held for approval (pending by default), oldest id first.
#[utoipa::path(get, path = "/v1/approvals", params(ApprovalQuery),
    responses(
        (status = 200, body = ApprovalPage),
        (status = 400, body = Problem, description = "`invalid_query`: a parameter is \
            missing, unknown or of the wrong type, or `state` is none of the four"),
    ))]
pub async fn list_approvals(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    QueryParams(q): QueryParams<ApprovalQuery>,
) -> Result<Json<ApprovalPage>, Problem> {
    let wanted = state_named(q.state.as_deref().unwrap_or("pending"))?;
    let limit = q.limit.unwrap_or(kernel::DEFAULT_PAGE);
    let page = state
        .gateway
        .approvals(&caller.actor.scope, wanted, q.after, limit)
        .await?;
    Ok(Json(ApprovalPage {
        next_after: next_after(&page, limit, |r| r.payment_id.clone()),
        data: page.into_iter().map(Into::into).collect(),
    }))
}

/// One payment's approval request, with the text to sign and the votes so far.
#[utoipa::path(get, path = "/v1/approvals/{id}",
    params(("id" = String, Path, description = "The held payment's (or recovery's) id")),
    responses(
        (status = 200, body = ApprovalView),
        (status = 404, body = Problem, description = "`payment_not_found`: no approval \
            request of that id the credential may see"),
    ))]
pub async fn get_approval(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
) -> Result<Json<ApprovalView>, Problem> {
    Ok(Json(
        state
            .gateway
            .approval(&caller.actor.scope, &id)
            .await?
            .into(),
    ))
}

const VOTE_FORBIDDEN: &str = "`approval_not_an_approver` (not an approver the rule asks \
    for, or not signed in as that approver) or `approval_self_approval`";
const VOTE_CONFLICT: &str = "`approval_duplicate` (this approver voted) or `approval_closed`";
const VOTE_INVALID: &str = "`approval_bad_signature`, `approval_expired` or `invalid_field`";

async fn vote(
    state: ApiState,
    caller: Caller,
    payment_id: String,
    vote: approvals::Vote,
    body: CastVote,
) -> Result<Json<ApprovalView>, Problem> {
    let request = state
        .gateway
        .vote(
            &caller.actor,
            NewVote {
                payment_id,
                approver_id: body.approver_id,
                vote,
                signature_hex: body.signature,
            },
        )
        .await?;
    Ok(Json(request.into()))
}

/// Approve a held payment with a signature over its intent; the payment goes once the
/// policy's quorum is met (the HSM keys sign last).
#[utoipa::path(post, path = "/v1/approvals/{id}/approve", request_body = CastVote,
    params(("id" = String, Path, description = "The held payment's (or recovery's) id")),
    responses(
        (status = 200, body = ApprovalView),
        (status = 403, body = Problem, description = VOTE_FORBIDDEN),
        (status = 404, body = Problem, description = "`payment_not_found`"),
        (status = 409, body = Problem, description = VOTE_CONFLICT),
        (status = 422, body = Problem, description = VOTE_INVALID),
    ))]
pub async fn approve(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
    body: JsonBody<CastVote>,
) -> Result<Json<ApprovalView>, Problem> {
    vote(state, caller, id, approvals::Vote::Approve, body.value).await
}

/// Reject a held payment (signed); it is rejected and its hold released.
#[utoipa::path(post, path = "/v1/approvals/{id}/reject", request_body = CastVote,
    params(("id" = String, Path, description = "The held payment's (or recovery's) id")),
    responses(
        (status = 200, body = ApprovalView),
        (status = 403, body = Problem, description = VOTE_FORBIDDEN),
        (status = 404, body = Problem, description = "`payment_not_found`"),
        (status = 409, body = Problem, description = VOTE_CONFLICT),
        (status = 422, body = Problem, description = VOTE_INVALID),
    ))]
pub async fn reject(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
    body: JsonBody<CastVote>,
) -> Result<Json<ApprovalView>, Problem> {
    vote(state, caller, id, approvals::Vote::Reject, body.value).await
}
