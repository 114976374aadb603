//! A payment routed over two hops (alpha → carol → beta), gossip included.

use std::time::Duration;

mod common;

use common::{outbound_msat, pay};
use lightning_lab::{wait_until, Lab, LabConfig, DEFAULT_WAIT};
use node_pool::{LightningNode, NodeError, PaymentState};

const CHANNEL_SAT: u64 = 2_000_000;

fn lab_config(dir: &tempfile::TempDir, nodes: &[&str]) -> LabConfig {
    LabConfig::new(dir.path().to_path_buf(), nodes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_routes_alpha_to_carol_to_beta() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = lab_config(&dir, &["alpha", "beta", "carol"])
        .balanced_channel("alpha", "carol", CHANNEL_SAT)
        .balanced_channel("carol", "beta", CHANNEL_SAT);
    let lab = Lab::start(config).await.expect("lab");
    let (alpha, beta) = (
        lab.node("alpha").expect("alpha"),
        lab.node("beta").expect("beta"),
    );
    let alpha_before = outbound_msat(&*alpha);
    // LDK routes only over channels whose updates it holds for both directions
    // (`ChannelInfo::as_directed_to`). Relayed by carol, beta's own update for the
    // carol–beta channel can miss alpha for a long time (it reached carol before alpha's
    // gossip sync); so alpha also peers with beta — no channel — and syncs it from beta.
    let carol_id = lab.node("carol").expect("carol").inner().node_id();
    let beta_id = beta.inner().node_id();
    let beta_peer = lab.peer_address("beta").expect("beta address");
    alpha
        .inner()
        .connect(beta_id, beta_peer.address.into(), false)
        .expect("alpha peers with beta");
    wait_until("alpha can route carol→beta", DEFAULT_WAIT * 2, || {
        let graph = alpha.inner().network_graph();
        graph
            .list_channels()
            .iter()
            .filter_map(|scid| graph.channel(*scid))
            .any(|c| {
                let ends = [c.node_one.as_pubkey().ok(), c.node_two.as_pubkey().ok()];
                let both_enabled = [&c.one_to_two, &c.two_to_one]
                    .iter()
                    .all(|u| u.as_ref().is_some_and(|u| u.enabled));
                ends.contains(&Some(carol_id)) && ends.contains(&Some(beta_id)) && both_enabled
            })
    })
    .await
    .expect("both directions of carol–beta reached alpha");

    let invoice = beta
        .create_invoice(10_000_000, "two hops", 3600)
        .await
        .expect("invoice");
    // A route may still be missing for a moment on a loaded machine (gossip about
    // carol's side of the channel, scorer state): `NoRouteNow` means nothing was sent, so
    // the same invoice is tried again, within a bound.
    let deadline = tokio::time::Instant::now() + DEFAULT_WAIT * 3;
    loop {
        match alpha.pay_invoice(&invoice.bolt11, None, None).await {
            Ok(_) => break,
            Err(NodeError::NoRouteNow) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                // What alpha sees, to tell a missing first hop from a missing graph edge.
                let graph = alpha.inner().network_graph();
                let edges: Vec<String> = graph
                    .list_channels()
                    .iter()
                    .filter_map(|scid| graph.channel(*scid).map(|c| format!("{scid}: {c:?}")))
                    .collect();
                let channels: Vec<String> = alpha
                    .inner()
                    .list_channels()
                    .iter()
                    .map(|c| {
                        format!(
                            "{} usable={} ready={} out={} next_htlc_max={}",
                            c.counterparty_node_id,
                            c.is_usable,
                            c.is_channel_ready,
                            c.outbound_capacity_msat,
                            c.next_outbound_htlc_limit_msat
                        )
                    })
                    .collect();
                let peers: Vec<String> = alpha
                    .inner()
                    .list_peers()
                    .iter()
                    .map(|p| format!("{} connected={}", p.node_id, p.is_connected))
                    .collect();
                panic!(
                    "payment starts: {e:?}\nalpha's channels: {channels:#?}\npeers: {peers:#?}\ngraph: {edges:#?}"
                )
            }
        }
    }
    let paid = pay(&*alpha, &invoice.bolt11).await;
    assert_eq!(paid.state, PaymentState::Succeeded, "routed through carol");
    let fee_msat = paid.fee_msat.expect("fee known");
    assert!(fee_msat > 0, "carol charges a forwarding fee");
    assert_eq!(
        beta.payment(&invoice.payment_hash).map(|p| p.state),
        Some(PaymentState::Succeeded)
    );
    wait_until("alpha pays amount plus fee", DEFAULT_WAIT, || {
        outbound_msat(&*alpha) == alpha_before - 10_000_000 - fee_msat
    })
    .await
    .expect("alpha's balance drops by amount + fee");
    lab.shutdown().await.expect("shutdown");
}
