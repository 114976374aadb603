//! The gateway's counters and histograms (the `metrics` facade; the binary installs the
//! exporter). Recorded after the store commits, so a rolled-back change counts nothing.
//! Label values are bounded: node names, outcomes and the stable failure codes.

use std::time::Duration;

use crate::{PaymentRecord, PaymentStatus};

/// Label for payments settled inside the ledger, which touch no node.
const INTERNAL: &str = "internal";

pub(crate) fn invoice_created(node: &str, took: Duration) {
    metrics::histogram!("fulgur_invoice_create_duration_seconds", "node" => node.to_string())
        .record(took.as_secs_f64());
    metrics::counter!("fulgur_invoices_created_total", "node" => node.to_string()).increment(1);
}

/// An invoice of ours was paid (by Lightning or inside the ledger).
pub(crate) fn invoice_paid(node: &str, amount_msat: u64) {
    metrics::counter!("fulgur_invoices_paid_total", "node" => node.to_string()).increment(1);
    metrics::counter!("fulgur_received_msat_total", "node" => node.to_string())
        .increment(amount_msat);
}

/// A node earned a routing fee forwarding someone else's payment.
pub(crate) fn routing_fee_earned(node: &str, fee_msat: u64) {
    metrics::counter!("fulgur_routing_fees_earned_msat_total", "node" => node.to_string())
        .increment(fee_msat);
}

/// A payment reached a final state: count it, time it from creation to now, and for a
/// success add its amount and fee to the volume counters.
pub(crate) fn payment_finished(payment: &PaymentRecord, now_ms: i64) {
    let outcome = match payment.status {
        PaymentStatus::Succeeded => "succeeded",
        PaymentStatus::Failed => "failed",
        PaymentStatus::Rejected => "rejected",
        _ => return,
    };
    let node = if payment.route == INTERNAL {
        INTERNAL.to_string()
    } else {
        payment.node.clone().unwrap_or_else(|| "none".to_string())
    };
    let seconds = (now_ms.saturating_sub(payment.created_at_ms)).max(0) as f64 / 1_000.0;
    metrics::histogram!(
        "fulgur_payment_duration_seconds",
        "node" => node.clone(),
        "outcome" => outcome,
    )
    .record(seconds);
    metrics::counter!("fulgur_payments_total", "node" => node.clone(), "outcome" => outcome)
        .increment(1);
    match payment.status {
        PaymentStatus::Succeeded => {
            metrics::counter!("fulgur_sent_msat_total", "node" => node.clone())
                .increment(payment.amount_msat);
            metrics::counter!("fulgur_payment_fees_msat_total", "node" => node)
                .increment(payment.fee_msat.unwrap_or(0));
        }
        _ => {
            let reason = payment
                .failure_code
                .clone()
                .unwrap_or_else(|| "unknown".to_string());
            metrics::counter!("fulgur_payment_failures_total", "reason" => reason).increment(1);
        }
    }
}
