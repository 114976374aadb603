//! Helpers the integration tests share.

use lightning_lab::{wait_until, DEFAULT_WAIT};
use node_pool::{LightningNode, PaymentState};

/// Pays `bolt11` from `payer` and waits for the outcome.
pub async fn pay(payer: &dyn LightningNode, bolt11: &str) -> node_pool::PaymentInfo {
    let hash = payer
        .pay_invoice(bolt11, None, None)
        .await
        .expect("payment starts");
    let mut outcome = None;
    wait_until("payment resolves", DEFAULT_WAIT, || {
        outcome = payer
            .payment(&hash)
            .filter(|p| p.state != PaymentState::Pending);
        outcome.is_some()
    })
    .await
    .expect("payment resolves in time");
    outcome.expect("resolved")
}

pub fn outbound_msat(node: &dyn LightningNode) -> u64 {
    node.channels().iter().map(|c| c.outbound_msat).sum()
}
