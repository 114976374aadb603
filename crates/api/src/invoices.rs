//! Invoices: create, read, cancel.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use gateway::{InvoiceView, NewInvoice};
use serde::Deserialize;

use crate::auth::Caller;
use crate::extract::{JsonBody, PathParams};
use crate::problem::Problem;
use crate::ApiState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvoice {
    /// The account the payment is credited to.
    pub account_id: String,
    #[schema(minimum = 1)]
    pub amount_msat: u64,
    #[serde(default)]
    pub description: String,
    /// Seconds until the invoice expires (default 3600, at most 7 days).
    pub expiry_secs: Option<u32>,
    /// Who is expected to pay, when known: screened against the sanctions lists and the
    /// watchlist when the payment arrives (a match holds it for a compliance review).
    pub payer: Option<crate::screening::NameQuery>,
}

/// Create a BOLT11 invoice that credits an account when paid.
#[utoipa::path(post, path = "/v1/invoices", request_body = CreateInvoice,
    responses(
        (status = 201, body = InvoiceView),
        (status = 404, body = Problem, description = "`account_not_found`"),
        (status = 422, body = Problem, description = "`invalid_field` (amount, description or \
            expiry out of bounds), `not_a_customer_account` or `no_liquidity`"),
    ))]
pub async fn create_invoice(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<CreateInvoice>,
) -> Result<(StatusCode, Json<InvoiceView>), Problem> {
    let req = body.value;
    let payer = req
        .payer
        .map(|p| crate::screening::query(|f| format!("payer.{f}"), p))
        .transpose()?;
    let invoice = state
        .gateway
        .create_invoice(
            &caller.actor,
            NewInvoice {
                account_id: req.account_id,
                amount_msat: req.amount_msat,
                description: req.description,
                expiry_secs: req.expiry_secs,
                payer,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(invoice.view())))
}

/// An invoice and its status.
#[utoipa::path(get, path = "/v1/invoices/{id}",
    params(("id" = String, Path, description = "The invoice's id")),
    responses(
        (status = 200, body = InvoiceView),
        (status = 404, body = Problem, description = "`invoice_not_found`"),
    ))]
pub async fn get_invoice(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
) -> Result<Json<InvoiceView>, Problem> {
    Ok(Json(
        state
            .gateway
            .invoice(&caller.actor.scope, &id)
            .await?
            .view(),
    ))
}

/// Cancel an open invoice (if an outsider pays it anyway, the money is still credited).
#[utoipa::path(post, path = "/v1/invoices/{id}/cancel",
    params(("id" = String, Path, description = "The invoice's id")),
    responses(
        (status = 200, body = InvoiceView),
        (status = 404, body = Problem, description = "`invoice_not_found`"),
        (status = 409, body = Problem, description = "`invoice_not_open`: paid, expired or \
            canceled already"),
    ))]
pub async fn cancel_invoice(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
) -> Result<Json<InvoiceView>, Problem> {
    Ok(Json(
        state
            .gateway
            .cancel_invoice(&caller.actor, &id)
            .await?
            .view(),
    ))
}
