//! Payments: create (with an idempotency key), read.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use gateway::{Idempotency, NewPayment, PaymentView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::extract::{JsonBody, PathParams};
use crate::problem::Problem;
use crate::screening::NameQuery;
use crate::ApiState;

/// Longest idempotency key accepted.
const MAX_KEY_CHARS: usize = 255;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    /// The account the amount and fee are debited from.
    pub account_id: String,
    pub bolt11: String,
    /// Required for an invoice without an amount; must equal the invoice's if given.
    pub amount_msat: Option<u64>,
    /// Most routing fee to pay (default: 1% of the amount, at least 10 sat).
    pub max_fee_msat: Option<u64>,
    /// Who the payment is for: screened against the sanctions lists and the watchlist
    /// (a match holds the payment for a compliance review).
    pub beneficiary: Option<NameQuery>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentAccepted {
    pub id: String,
    /// Usually `pending`; `succeeded` for one of our own invoices, `rejected` or
    /// `awaiting_approval` by policy, `held_for_review` by compliance.
    pub status: String,
}

/// Pay a BOLT11 invoice from an account. Send an `Idempotency-Key` header: a retry with
/// the same key and body returns the first answer; the same key with another body is
/// refused.
#[utoipa::path(post, path = "/v1/payments", request_body = CreatePayment,
    params(("Idempotency-Key" = Option<String>, Header, description = "1-255 printable ASCII characters")),
    responses(
        (status = 202, body = PaymentAccepted),
        (status = 400, body = Problem, description = "`invalid_idempotency_key`, or the body \
            is not JSON (`malformed_json`)"),
        (status = 404, body = Problem, description = "`account_not_found`"),
        (status = 422, body = Problem, description = "the payment cannot be made: \
            `invalid_invoice`, `invoice_expired`, `wrong_network`, `amount_required`, \
            `amount_mismatch`, `insufficient_funds`, `invoice_already_paid`, \
            `invoice_mismatch`, `no_liquidity`, `idempotency_key_reused`, \
            `velocity_limit_exceeded`, `not_a_customer_account`, `invalid_field`, \
            `customer_not_verified`, `customer_relationship_ended`, `customer_limit_exceeded`, \
            `compliance_blocked`"),
    ))]
pub async fn create_payment(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: JsonBody<CreatePayment>,
) -> Result<(StatusCode, Json<PaymentAccepted>), Problem> {
    let idempotency = match headers.get("idempotency-key") {
        None => None,
        Some(value) => {
            let key = value
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_CHARS)
                .ok_or_else(|| {
                    Problem::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_idempotency_key",
                        "Idempotency-Key must be 1-255 printable ASCII characters",
                    )
                })?;
            let digest: String = Sha256::digest(&body.raw)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            Some(Idempotency {
                tenant_id: caller.tenant_key.clone(),
                key: key.to_string(),
                request_hash: digest,
            })
        }
    };
    let req = body.value;
    let beneficiary = req
        .beneficiary
        .map(|b| crate::screening::query(|f| format!("beneficiary.{f}"), b))
        .transpose()?;
    let accepted = state
        .gateway
        .create_payment(
            &caller.actor,
            NewPayment {
                account_id: req.account_id,
                bolt11: req.bolt11,
                amount_msat: req.amount_msat,
                max_fee_msat: req.max_fee_msat,
                beneficiary,
            },
            idempotency,
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(PaymentAccepted {
            id: accepted.id,
            status: accepted.status.as_str().to_string(),
        }),
    ))
}

/// A payment: status, fee, preimage on success, failure reason on failure.
#[utoipa::path(get, path = "/v1/payments/{id}",
    params(("id" = String, Path, description = "The payment's id")),
    responses(
        (status = 200, body = PaymentView),
        (status = 404, body = Problem, description = "`payment_not_found`"),
    ))]
pub async fn get_payment(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParams(id): PathParams<String>,
) -> Result<Json<PaymentView>, Problem> {
    Ok(Json(
        state
            .gateway
            .payment(&caller.actor.scope, &id)
            .await?
            .view(),
    ))
}
