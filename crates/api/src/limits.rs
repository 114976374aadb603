//! An account's velocity limits (EUR cents per UTC day and month).

use axum::extract::State;
use axum::{Extension, Json};
use controls::VelocityLimits;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::extract::{JsonBody, PathParams};
use crate::problem::Problem;
use crate::ApiState;

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsView {
    /// EUR cents the account may send per UTC day; absent: no daily limit.
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
    pub daily_eur_cents: Option<u64>,
    /// EUR cents per UTC month; absent: no monthly limit.
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
    pub monthly_eur_cents: Option<u64>,
}

impl From<VelocityLimits> for LimitsView {
    fn from(l: VelocityLimits) -> Self {
        Self {
            daily_eur_cents: l.daily_eur_cents,
            monthly_eur_cents: l.monthly_eur_cents,
        }
    }
}

/// An account's velocity limits.
#[utoipa::path(get, path = "/v1/accounts/{id}/limits",
    params(("id" = String, Path, description = "The account's id")),
    responses(
        (status = 200, body = LimitsView),
        (status = 404, body = Problem, description = "`account_not_found`"),
    ))]
pub async fn get_limits(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
) -> Result<Json<LimitsView>, Problem> {
    let limits = state
        .gateway
        .velocity_limits(&caller.actor.scope, &id)
        .await?;
    Ok(Json(limits.into()))
}

/// Set an account's velocity limits, checked atomically with each payment's hold.
#[utoipa::path(put, path = "/v1/accounts/{id}/limits", request_body = LimitsView,
    params(("id" = String, Path, description = "The account's id")),
    responses(
        (status = 200, body = LimitsView),
        (status = 404, body = Problem, description = "`account_not_found`"),
        (status = 422, body = Problem, description = "`invalid_field` or `value_out_of_range`: \
            a limit is not a whole number of EUR cents the store can hold"),
    ))]
pub async fn put_limits(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
    body: JsonBody<LimitsView>,
) -> Result<Json<LimitsView>, Problem> {
    let limits = state
        .gateway
        .set_velocity_limits(
            &caller.actor,
            &id,
            VelocityLimits {
                daily_eur_cents: body.value.daily_eur_cents,
                monthly_eur_cents: body.value.monthly_eur_cents,
            },
        )
        .await?;
    Ok(Json(limits.into()))
}
