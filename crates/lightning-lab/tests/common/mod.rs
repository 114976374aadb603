//! Helpers the integration tests share.

use lightning_lab::{wait_until, Lab, DEFAULT_WAIT};
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

/// Makes `payer` able to route through `hop` to `payee`. LDK routes only over channels
/// whose updates it holds for both directions (`ChannelInfo::as_directed_to`), and the
/// payee's own update, relayed by the hop, can miss the payer for a long time (it reached
/// the hop before the payer's gossip sync). So the payer also peers with the payee — no
/// channel — and syncs gossip from it; then this waits until both directions of the
/// hop–payee channel are in the payer's graph, enabled.
pub async fn wait_routable(lab: &Lab, payer: &str, hop: &str, payee: &str) {
    let payer = lab.node(payer).expect("payer");
    let hop_id = lab.node(hop).expect("hop").inner().node_id();
    let payee_id = lab.node(payee).expect("payee").inner().node_id();
    let payee_address = lab.peer_address(payee).expect("payee address").address;
    payer
        .inner()
        .connect(payee_id, payee_address.into(), false)
        .expect("payer peers with payee");
    wait_until("the payer can route hop→payee", DEFAULT_WAIT * 2, || {
        let graph = payer.inner().network_graph();
        graph
            .list_channels()
            .iter()
            .filter_map(|scid| graph.channel(*scid))
            .any(|c| {
                let ends = [c.node_one.as_pubkey().ok(), c.node_two.as_pubkey().ok()];
                let both_enabled = [&c.one_to_two, &c.two_to_one]
                    .iter()
                    .all(|u| u.as_ref().is_some_and(|u| u.enabled));
                ends.contains(&Some(hop_id)) && ends.contains(&Some(payee_id)) && both_enabled
            })
    })
    .await
    .expect("both directions of hop–payee reached the payer");
}
