//! The audit trail for auditors: records in chain order, a tenant credential seeing its
//! own tenant's only.

use axum::extract::State;
use axum::{Extension, Json};
use kernel::rfc3339;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::extract::{next_after, QueryParams};
use crate::problem::Problem;
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Records after this sequence number.
    pub after: Option<i64>,
    /// Rows per page (default 100, at most 500).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditRecordView {
    pub seq: i64,
    pub at: String,
    pub actor_id: String,
    pub subject: String,
    pub tenant_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    /// success, denied or failed.
    pub outcome: String,
    pub request_id: String,
    pub source_ip: Option<String>,
    pub details: Option<String>,
    /// SHA-256 of the previous record, hex.
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditRecordView>,
    pub next_after: Option<i64>,
}

/// Audit records in chain order.
#[utoipa::path(get, path = "/v1/audit", params(AuditQuery),
    responses((status = 200, body = AuditPage)))]
pub async fn list_audit(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    QueryParams(q): QueryParams<AuditQuery>,
) -> Result<Json<AuditPage>, Problem> {
    let limit = q.limit.unwrap_or(kernel::DEFAULT_PAGE);
    let filter = audit::AuditFilter {
        tenant_id: caller.principal.tenant_id.clone(),
        after_seq: q.after.unwrap_or(0),
        limit,
    };
    let records = audit::list(state.auth.store(), filter).await?;
    Ok(Json(AuditPage {
        next_after: next_after(&records, limit, |r| r.seq),
        data: records
            .into_iter()
            .map(|r| AuditRecordView {
                seq: r.seq,
                at: rfc3339(r.at_ms),
                actor_id: r.actor_id,
                subject: r.subject,
                tenant_id: r.tenant_id,
                action: r.action,
                target: r.target,
                outcome: r.outcome.as_str().to_string(),
                request_id: r.request_id,
                source_ip: r.source_ip,
                details: r.details,
                prev_hash: hex::encode(&r.prev_hash),
                hash: hex::encode(&r.hash),
            })
            .collect(),
    }))
}
