//! The gateway's counters and histograms (the `metrics` facade; the binary installs the
//! exporter). Recorded after the store commits, so a rolled-back change counts nothing.
//! Label values are bounded: node names, outcomes and the stable failure codes.

use std::time::Duration;

use ops::Slo;

use crate::{Gateway, PaymentRecord, PaymentStatus};

/// Label for payments settled inside the ledger, which touch no node.
const INTERNAL: &str = "internal";

impl Gateway {
    pub(crate) fn invoice_created(&self, node: &str, took: Duration, now_ms: i64) {
        metrics::histogram!("fulgur_invoice_create_duration_seconds", "node" => node.to_string())
            .record(took.as_secs_f64());
        metrics::counter!("fulgur_invoices_created_total", "node" => node.to_string()).increment(1);
        let took_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        self.inner
            .sli
            .record_latency(Slo::InvoiceLatency, took_ms, now_ms);
    }

    /// A payment reached a final state: metrics, and the availability and latency SLIs
    /// (a rejected payment counts for neither: the policy refused it, nothing failed).
    pub(crate) fn payment_finished(&self, payment: &PaymentRecord, now_ms: i64) {
        payment_metrics(payment, now_ms);
        let took_ms = u64::try_from(now_ms.saturating_sub(payment.created_at_ms)).unwrap_or(0);
        match payment.status {
            PaymentStatus::Succeeded => {
                self.inner.sli.record(Slo::Availability, true, now_ms);
                self.inner
                    .sli
                    .record_latency(Slo::PaymentLatency, took_ms, now_ms);
            }
            PaymentStatus::Failed => self.inner.sli.record(Slo::Availability, false, now_ms),
            _ => {}
        }
    }
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

/// Counts a finished payment, times it from creation to now, and for a success adds its
/// amount and fee to the volume counters.
fn payment_metrics(payment: &PaymentRecord, now_ms: i64) {
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
