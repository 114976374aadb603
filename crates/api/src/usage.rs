//! `GET /v1/usage`: a tenant's API calls per UTC day, for chargeback.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use crate::extract::QueryParams;
use crate::{ApiState, Caller, Problem};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// The tenant whose calls to count (a tenant credential: its own).
    pub tenant_id: String,
    /// First day, YYYY-MM-DD (UTC).
    #[param(format = Date)]
    pub from: String,
    /// Last day, YYYY-MM-DD (UTC), at most 366 days after `from`.
    #[param(format = Date)]
    pub to: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageDay {
    pub day: String,
    pub calls: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageReport {
    pub tenant_id: String,
    /// Calls a day allowed; absent: unlimited.
    pub daily_quota: Option<u64>,
    pub days: Vec<UsageDay>,
}

fn day(field: &'static str, text: &str) -> Result<chrono::NaiveDate, Problem> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| Problem::invalid(format!("{field}: a date as YYYY-MM-DD")))
}

/// Calls per day of a tenant (its own tenant for a tenant's credential).
#[utoipa::path(get, path = "/v1/usage", params(UsageQuery),
    responses(
        (status = 200, body = UsageReport),
        (status = 404, body = Problem, description = "`not_found`: a tenant the credential \
            may not see"),
        (status = 422, body = Problem, description = "`invalid_field`: a day is not \
            YYYY-MM-DD, or the range is reversed or over 366 days"),
    ))]
pub async fn get_usage(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    QueryParams(q): QueryParams<UsageQuery>,
) -> Result<Json<UsageReport>, Problem> {
    let (from, to) = (day("from", &q.from)?, day("to", &q.to)?);
    if to < from || (to - from).num_days() > 366 {
        return Err(Problem::invalid(
            "to: on or after from, at most 366 days later",
        ));
    }
    if !caller.actor.scope.allows(&q.tenant_id) {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such tenant",
        ));
    }
    let usage = state.auth.usage();
    let days = usage
        .daily(&q.tenant_id, &q.from, &q.to)
        .await
        .map_err(|e| Problem::from(access::AccessError::Store(e)))?;
    Ok(Json(UsageReport {
        daily_quota: usage.quota(&q.tenant_id),
        tenant_id: q.tenant_id,
        days: days
            .into_iter()
            .map(|(day, calls)| UsageDay { day, calls })
            .collect(),
    }))
}
