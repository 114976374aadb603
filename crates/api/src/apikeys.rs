//! API keys: issue (the key shown once), list, read, rotate, revoke — for administrators.

use access::{ApiKeyInfo, ApiScope, NewApiKey, Role};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use kernel::rfc3339;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::extract::{next_after, JsonBody, PathParams, QueryParams};
use crate::problem::Problem;
use crate::ApiState;

/// Overlap a rotation grants the old key unless told otherwise.
const DEFAULT_OVERLAP_SECS: u32 = 24 * 3_600;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// The tenant the key is bound to; omit for a platform key (platform admins only).
    pub tenant_id: Option<String>,
    pub name: String,
    /// Any of admin, operator, approver, compliance, auditor, integration.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Extra scopes, e.g. `payments:read`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// CIDRs the key is accepted from; empty or absent: anywhere.
    #[serde(default)]
    pub ip_allowlist: Vec<String>,
    /// RFC 3339; absent: no expiry.
    pub expires_at: Option<String>,
    /// Rate-limit tier (default `standard`).
    pub rate_tier: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateApiKey {
    /// How long the old key keeps working (default 24 h, at most 30 days).
    #[schema(maximum = 2_592_000)]
    pub overlap_secs: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub tenant_id: Option<String>,
    pub name: String,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    pub ip_allowlist: Vec<String>,
    pub rate_tier: String,
    pub created_at: String,
    pub created_by: String,
    /// Who answers for the key (`key:<id>` when created out of band, else the identity of
    /// the credential that created or last rotated it): two keys of one owner are one
    /// person to the rules that need two.
    pub owner: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub rotated_to: Option<String>,
    /// `active`, `expired` or `revoked`, as of the response.
    pub status: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedApiKey {
    #[serde(flatten)]
    pub info: ApiKeyView,
    /// The key itself: shown this once, never again.
    pub key: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyPage {
    pub data: Vec<ApiKeyView>,
    pub next_after: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyQuery {
    /// The last key id of the previous page (`next_after`).
    pub after: Option<String>,
    /// Rows per page (default 100, at most 500).
    pub limit: Option<u32>,
}

fn view(k: &ApiKeyInfo, now_ms: i64) -> ApiKeyView {
    ApiKeyView {
        id: k.id.clone(),
        tenant_id: k.tenant_id.clone(),
        name: k.name.clone(),
        roles: k.roles.iter().map(|r| r.as_str().to_string()).collect(),
        scopes: k.scopes.iter().map(|s| s.as_str().to_string()).collect(),
        ip_allowlist: k.ip_allowlist.iter().map(ToString::to_string).collect(),
        rate_tier: k.rate_tier.clone(),
        created_at: rfc3339(k.created_at_ms),
        created_by: k.created_by.clone(),
        owner: k.owner.clone(),
        expires_at: k.expires_at_ms.map(rfc3339),
        revoked_at: k.revoked_at_ms.map(rfc3339),
        rotated_to: k.rotated_to.clone(),
        status: if k.revoked_at_ms.is_some() {
            "revoked"
        } else if k.is_active(now_ms) {
            "active"
        } else {
            "expired"
        },
    }
}

fn parse_new(req: CreateApiKey) -> Result<NewApiKey, Problem> {
    let roles = req
        .roles
        .iter()
        .map(|r| {
            r.parse::<Role>()
                .map_err(|e| Problem::invalid(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let scopes = req
        .scopes
        .iter()
        .map(|s| {
            s.parse::<ApiScope>()
                .map_err(|e| Problem::invalid(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let ip_allowlist = req
        .ip_allowlist
        .iter()
        .map(|n| {
            n.parse::<ipnet::IpNet>()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    Problem::invalid(format!("ip_allowlist: {n:?} is not an address or CIDR"))
                })
        })
        .collect::<Result<_, _>>()?;
    let expires_at_ms = req
        .expires_at
        .as_deref()
        .map(|at| {
            chrono::DateTime::parse_from_rfc3339(at)
                .map(|t| t.timestamp_millis())
                .map_err(|_| Problem::invalid(format!("expires_at: {at:?} is not RFC 3339")))
        })
        .transpose()?;
    Ok(NewApiKey {
        tenant_id: req.tenant_id,
        name: req.name,
        roles,
        scopes,
        ip_allowlist,
        expires_at_ms,
        rate_tier: req.rate_tier.unwrap_or_else(|| "standard".to_string()),
    })
}

/// Issue an API key. The response holds the key; it is shown this once.
#[utoipa::path(post, path = "/v1/apikeys", request_body = CreateApiKey,
    responses(
        (status = 201, body = IssuedApiKey),
        (status = 403, body = Problem, description = "`forbidden`: the key would have roles, \
            scopes or a tenant beyond the caller's"),
        (status = 422, body = Problem, description = "`invalid_field` (a role, scope, CIDR or \
            date is not valid) or `tenant_not_found`"),
    ))]
pub async fn create_apikey(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<CreateApiKey>,
) -> Result<(StatusCode, Json<IssuedApiKey>), Problem> {
    let new = parse_new(body.value)?;
    let (info, secret) = state.auth.keys().create(&caller.actor, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedApiKey {
            info: view(&info, state.auth.now_ms()),
            key: secret.expose().to_string(),
        }),
    ))
}

/// List the API keys the caller administers.
#[utoipa::path(get, path = "/v1/apikeys", params(ApiKeyQuery),
    responses((status = 200, body = ApiKeyPage)))]
pub async fn list_apikeys(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    QueryParams(q): QueryParams<ApiKeyQuery>,
) -> Result<Json<ApiKeyPage>, Problem> {
    let limit = q.limit.unwrap_or(kernel::DEFAULT_PAGE);
    let keys = state
        .auth
        .keys()
        .list(&caller.actor.scope, q.after, limit)
        .await?;
    let now = state.auth.now_ms();
    Ok(Json(ApiKeyPage {
        next_after: next_after(&keys, limit, |k| k.id.clone()),
        data: keys.iter().map(|k| view(k, now)).collect(),
    }))
}

/// An API key (never its secret).
#[utoipa::path(get, path = "/v1/apikeys/{id}",
    params(("id" = String, Path, description = "The key's id (not its secret)")),
    responses(
        (status = 200, body = ApiKeyView),
        (status = 404, body = Problem, description = "`apikey_not_found`"),
    ))]
pub async fn get_apikey(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
) -> Result<Json<ApiKeyView>, Problem> {
    let key = state.auth.keys().get(&caller.actor.scope, &id).await?;
    Ok(Json(view(&key, state.auth.now_ms())))
}

/// Rotate an API key: a successor is issued (shown once) and the old key keeps working
/// for the overlap, then is refused.
#[utoipa::path(post, path = "/v1/apikeys/{id}/rotate", request_body = RotateApiKey,
    params(("id" = String, Path, description = "The key's id (not its secret)")),
    responses(
        (status = 201, body = IssuedApiKey),
        (status = 403, body = Problem, description = "`forbidden`: the key is beyond the \
            caller's roles or tenant"),
        (status = 404, body = Problem, description = "`apikey_not_found`"),
        (status = 409, body = Problem, description = "`apikey_not_active`: revoked, expired \
            or already rotated"),
        (status = 422, body = Problem, description = "`invalid_field`: the overlap is over 30 days"),
    ))]
pub async fn rotate_apikey(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
    body: JsonBody<RotateApiKey>,
) -> Result<(StatusCode, Json<IssuedApiKey>), Problem> {
    let overlap = body.value.overlap_secs.unwrap_or(DEFAULT_OVERLAP_SECS);
    let (info, secret) = state
        .auth
        .keys()
        .rotate(&caller.actor, &id, overlap)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedApiKey {
            info: view(&info, state.auth.now_ms()),
            key: secret.expose().to_string(),
        }),
    ))
}

/// Revoke an API key: refused from now on, on every replica.
#[utoipa::path(post, path = "/v1/apikeys/{id}/revoke",
    params(("id" = String, Path, description = "The key's id (not its secret)")),
    responses(
        (status = 200, body = ApiKeyView),
        (status = 403, body = Problem, description = "`forbidden`: the key is beyond the \
            caller's roles or tenant"),
        (status = 404, body = Problem, description = "`apikey_not_found`"),
        (status = 409, body = Problem, description = "`apikey_not_active`: already revoked"),
    ))]
pub async fn revoke_apikey(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
) -> Result<Json<ApiKeyView>, Problem> {
    let key = state.auth.keys().revoke(&caller.actor, &id).await?;
    Ok(Json(view(&key, state.auth.now_ms())))
}
