//! The demo's devnet control endpoints (SPEC §4), served only by `fulgur demo`: mine
//! blocks, and act as carol, the outside counterparty — issue an invoice, pay one.

use std::sync::Arc;
use std::time::Duration;

use api::{JsonBody, Problem};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use lightning_lab::Lab;
use node_pool::{LightningNode, PaymentState};
use serde::Deserialize;
use serde_json::{json, Value};

/// Most blocks one call mines.
const MAX_BLOCKS: u32 = 1_000;
/// How long a counterparty payment may take before the call answers `pending`.
const PAYMENT_WAIT: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Mine {
    blocks: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CounterpartyInvoice {
    amount_msat: u64,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CounterpartyPayment {
    bolt11: String,
}

pub fn routes(lab: Arc<Lab>) -> Router {
    Router::new()
        .route("/devnet/mine", post(mine))
        .route("/devnet/counterparty/invoices", post(invoice))
        .route("/devnet/counterparty/payments", post(pay))
        .with_state(lab)
}

fn unprocessable(code: &str, detail: impl ToString) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail.to_string())
}

async fn mine(State(lab): State<Arc<Lab>>, body: JsonBody<Mine>) -> Result<Json<Value>, Problem> {
    let blocks = body.value.blocks;
    if blocks == 0 || blocks > MAX_BLOCKS {
        return Err(unprocessable(
            "invalid_field",
            format!("blocks must be 1 to {MAX_BLOCKS}"),
        ));
    }
    lab.mine(blocks)
        .await
        .map_err(|e| unprocessable("devnet_error", e))?;
    Ok(Json(json!({"height": lab.devnet.height()})))
}

fn carol(lab: &Lab) -> Result<Arc<dyn LightningNode>, Problem> {
    lab.node("carol")
        .map(|n| n as Arc<dyn LightningNode>)
        .map_err(|e| unprocessable("devnet_error", e))
}

async fn invoice(
    State(lab): State<Arc<Lab>>,
    body: JsonBody<CounterpartyInvoice>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let req = body.value;
    let invoice = carol(&lab)?
        .create_invoice(req.amount_msat, &req.description, 3_600)
        .await
        .map_err(|e| unprocessable("invalid_field", e))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"bolt11": invoice.bolt11, "payment_hash": invoice.payment_hash})),
    ))
}

async fn pay(
    State(lab): State<Arc<Lab>>,
    body: JsonBody<CounterpartyPayment>,
) -> Result<Json<Value>, Problem> {
    let carol = carol(&lab)?;
    let hash = carol
        .pay_invoice(&body.value.bolt11, None, None)
        .await
        .map_err(|e| unprocessable("payment_failed", e))?;
    let deadline = tokio::time::Instant::now() + PAYMENT_WAIT;
    loop {
        let payment = carol.payment(&hash);
        let state = payment.as_ref().map(|p| p.state.clone());
        let done = match state {
            Some(PaymentState::Succeeded) => Some(("succeeded", None)),
            Some(PaymentState::Failed { reason }) => Some(("failed", Some(reason))),
            _ => None,
        };
        if let Some((status, reason)) = done {
            return Ok(Json(json!({
                "status": status,
                "payment_hash": hash,
                "preimage": payment.and_then(|p| p.preimage),
                "failure_reason": reason,
            })));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Json(json!({"status": "pending", "payment_hash": hash})));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
