//! Webhook subscriptions, their delivery log, and redelivery.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use kernel::rfc3339;
use serde::{Deserialize, Serialize};
use webhooks::{Delivery, DeliveryDetail, DeliveryState, NewSubscription, Subscription};

use crate::auth::Caller;
use crate::extract::{next_after, JsonBody, PathParams, QueryParams};
use crate::problem::Problem;
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    pub tenant_id: String,
    /// HTTPS endpoint at a public address that receives the events as signed POSTs
    /// (loopback, private and other internal addresses are refused).
    pub url: String,
    /// Event types to receive (`invoice.created`, `invoice.paid`, `invoice.expired`,
    /// `invoice.canceled`, `payment.created`, `payment.succeeded`, `payment.failed`,
    /// `payment.rejected`), or `["*"]` for all.
    pub event_types: Vec<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the old secret keeps signing too (default 86400, at most 604800; 0 ends
    /// it at once).
    #[schema(maximum = 604_800)]
    pub overlap_secs: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub tenant_id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub created_at: String,
}

impl From<&Subscription> for WebhookView {
    fn from(s: &Subscription) -> Self {
        Self {
            id: s.id.clone(),
            tenant_id: s.tenant_id.clone(),
            url: s.url.clone(),
            event_types: s.event_types.clone(),
            enabled: s.enabled,
            created_at: rfc3339(s.created_at_ms),
        }
    }
}

/// A new subscription and its signing secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// Verify each delivery's `Fulgur-Signature` with it; it is not shown again.
    pub secret: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookPage {
    pub data: Vec<WebhookView>,
    pub next_after: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub state: &'static str,
    pub attempts: u64,
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        Self {
            id: d.id.clone(),
            webhook_id: d.subscription_id.clone(),
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            state: d.state.as_str(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at_ms.map(rfc3339),
            last_status_code: d.last_status_code,
            last_error: d.last_error.clone(),
            created_at: rfc3339(d.created_at_ms),
            delivered_at: d.delivered_at_ms.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    pub attempt: u64,
    pub started_at: String,
    pub duration_ms: i64,
    /// The receiver's answer; absent when none came (see `error`).
    pub status_code: Option<u16>,
    pub error: Option<String>,
}

/// A delivery with every attempt made.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryDetailView {
    #[serde(flatten)]
    pub delivery: DeliveryView,
    pub attempt_log: Vec<AttemptView>,
}

impl From<&DeliveryDetail> for DeliveryDetailView {
    fn from(d: &DeliveryDetail) -> Self {
        Self {
            delivery: DeliveryView::from(&d.delivery),
            attempt_log: d
                .attempts
                .iter()
                .map(|a| AttemptView {
                    attempt: a.attempt,
                    started_at: rfc3339(a.started_at_ms),
                    duration_ms: a.duration_ms,
                    status_code: a.status_code,
                    error: a.error.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryPage {
    pub data: Vec<DeliveryView>,
    pub next_after: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WebhookQuery {
    /// The tenant whose subscriptions to list (a tenant credential: its own).
    pub tenant_id: String,
    /// The last subscription id of the previous page (`next_after`).
    pub after: Option<String>,
    /// Rows per page (default 100, at most 500).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// Only deliveries in this state: `pending`, `delivered` or `failed`.
    #[param(pattern = "^(pending|delivered|failed)$")]
    pub state: Option<String>,
    /// The last delivery id of the previous page (`next_after`).
    pub after: Option<String>,
    /// Rows per page (default 100, at most 500).
    pub limit: Option<u32>,
}

/// Subscribe a URL to a tenant's events.
#[utoipa::path(post, path = "/v1/webhooks", request_body = CreateWebhook,
    responses(
        (status = 201, body = CreatedWebhook),
        (status = 422, body = Problem, description = "`invalid_field` (tenant, URL, internal \
            address or event type) or `too_many_webhooks`"),
    ))]
pub async fn create_webhook(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<CreateWebhook>,
) -> Result<(StatusCode, Json<CreatedWebhook>), Problem> {
    let req = body.value;
    let created = state
        .webhooks
        .create_subscription(
            &caller.actor,
            NewSubscription {
                tenant_id: req.tenant_id,
                url: req.url,
                event_types: req.event_types,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            webhook: WebhookView::from(&created.subscription),
            secret: created.secret.expose().to_string(),
        }),
    ))
}

/// A tenant's webhook subscriptions.
#[utoipa::path(get, path = "/v1/webhooks", params(WebhookQuery),
    responses((status = 200, body = WebhookPage)))]
pub async fn list_webhooks(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    QueryParams(q): QueryParams<WebhookQuery>,
) -> Result<Json<WebhookPage>, Problem> {
    let limit = q.limit.unwrap_or(kernel::DEFAULT_PAGE);
    let page = state
        .webhooks
        .subscriptions(&caller.actor.scope, &q.tenant_id, q.after, limit)
        .await?;
    Ok(Json(WebhookPage {
        next_after: next_after(&page, limit, |s| s.id.clone()),
        data: page.iter().map(WebhookView::from).collect(),
    }))
}

/// A webhook subscription.
#[utoipa::path(get, path = "/v1/webhooks/{id}",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, body = WebhookView),
        (status = 404, body = Problem, description = "`webhook_not_found`"),
    ))]
pub async fn get_webhook(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
) -> Result<Json<WebhookView>, Problem> {
    let subscription = state
        .webhooks
        .subscription(&caller.actor.scope, &id)
        .await?;
    Ok(Json(WebhookView::from(&subscription)))
}

/// Replace the signing secret; the old one signs too until the overlap ends.
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", request_body = RotateSecret,
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, body = CreatedWebhook),
        (status = 404, body = Problem, description = "`webhook_not_found`"),
        (status = 422, body = Problem, description = "`invalid_field`: the overlap is over \
            7 days"),
    ))]
pub async fn rotate_secret(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
    body: JsonBody<RotateSecret>,
) -> Result<Json<CreatedWebhook>, Problem> {
    let rotated = state
        .webhooks
        .rotate_secret(&caller.actor, &id, body.value.overlap_secs)
        .await?;
    Ok(Json(CreatedWebhook {
        webhook: WebhookView::from(&rotated.subscription),
        secret: rotated.secret.expose().to_string(),
    }))
}

/// Disable a subscription: nothing more is sent to it; its log stays readable.
#[utoipa::path(delete, path = "/v1/webhooks/{id}",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, body = WebhookView),
        (status = 404, body = Problem, description = "`webhook_not_found`"),
    ))]
pub async fn disable_webhook(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
) -> Result<Json<WebhookView>, Problem> {
    let subscription = state
        .webhooks
        .disable_subscription(&caller.actor, &id)
        .await?;
    Ok(Json(WebhookView::from(&subscription)))
}

/// A subscription's deliveries, oldest first.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries",
    params(("id" = String, Path, description = "The subscription's id"), DeliveryQuery),
    responses(
        (status = 200, body = DeliveryPage),
        (status = 400, body = Problem, description = "`invalid_query`: a parameter is \
            missing, unknown or of the wrong type, or `state` is none of the three"),
        (status = 404, body = Problem, description = "`webhook_not_found`"),
    ))]
pub async fn list_deliveries(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
    QueryParams(q): QueryParams<DeliveryQuery>,
) -> Result<Json<DeliveryPage>, Problem> {
    let wanted = q
        .state
        .as_deref()
        .map(|s| {
            DeliveryState::parse(s).ok_or_else(|| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    "state: pending, delivered or failed",
                )
            })
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(kernel::DEFAULT_PAGE);
    let page = state
        .webhooks
        .deliveries(&caller.actor.scope, &id, wanted, q.after, limit)
        .await?;
    Ok(Json(DeliveryPage {
        next_after: next_after(&page, limit, |d| d.id.clone()),
        data: page.iter().map(DeliveryView::from).collect(),
    }))
}

/// A delivery and its attempts.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries/{delivery_id}",
    params(
        ("id" = String, Path, description = "The subscription's id"),
        ("delivery_id" = String, Path, description = "The delivery's id"),
    ),
    responses(
        (status = 200, body = DeliveryDetailView),
        (status = 404, body = Problem, description = "`webhook_not_found` or \
            `webhook_delivery_not_found`"),
    ))]
pub async fn get_delivery(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams((id, delivery_id)): PathParams<(String, String)>,
) -> Result<Json<DeliveryDetailView>, Problem> {
    let detail = state
        .webhooks
        .delivery(&caller.actor.scope, &id, &delivery_id)
        .await?;
    Ok(Json(DeliveryDetailView::from(&detail)))
}

/// Send a delivery again now, with a fresh retry budget.
#[utoipa::path(post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    params(
        ("id" = String, Path, description = "The subscription's id"),
        ("delivery_id" = String, Path, description = "The delivery's id"),
    ),
    responses(
        (status = 202, body = DeliveryView),
        (status = 404, body = Problem, description = "`webhook_not_found` or \
            `webhook_delivery_not_found`"),
        (status = 422, body = Problem, description = "`invalid_field`: the subscription is \
            disabled"),
    ))]
pub async fn redeliver(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams((id, delivery_id)): PathParams<(String, String)>,
) -> Result<(StatusCode, Json<DeliveryView>), Problem> {
    let delivery = state
        .webhooks
        .redeliver(&caller.actor, &id, &delivery_id)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(&delivery))))
}
