//! Nodes that follow the devnet through its Esplora and Electrum interfaces instead of
//! bitcoind RPC: they see their funds, open and confirm channels, pay and route, and see a
//! cooperative close confirm on chain — ldk-node's Esplora and Electrum chain sources
//! exercised end to end over real HTTP and TCP.

mod common;

use common::{outbound_msat, pay, wait_routable};
use lightning_lab::{wait_until, ChainAccess, Lab, LabConfig, DEFAULT_WAIT};
use node_pool::{LightningNode, PaymentState};

const CHANNEL_SAT: u64 = 2_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn esplora_and_electrum_nodes_open_channels_pay_and_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LabConfig::new(dir.path().to_path_buf(), &["alpha", "beta", "carol"])
        .chain_access("alpha", ChainAccess::Esplora)
        .chain_access("beta", ChainAccess::Electrum)
        .balanced_channel("alpha", "beta", CHANNEL_SAT)
        .balanced_channel("beta", "carol", CHANNEL_SAT);
    // Funding seen, channels confirmed and announced: every wait in `start` needs the
    // polling nodes' wallet and channel sync to work.
    let lab = Lab::start(config).await.expect("lab");
    let (alpha, beta, carol) = (
        lab.node("alpha").expect("alpha"),
        lab.node("beta").expect("beta"),
        lab.node("carol").expect("carol"),
    );
    assert_eq!(alpha.channels().len(), 1);
    assert_eq!(beta.channels().len(), 2);

    // Esplora node pays the Electrum node, then the Electrum node pays back.
    let alpha_before = outbound_msat(&*alpha);
    let invoice = beta
        .create_invoice(40_000_000, "esplora to electrum", 3600)
        .await
        .expect("invoice");
    assert_eq!(
        pay(&*alpha, &invoice.bolt11).await.state,
        PaymentState::Succeeded
    );
    let invoice = alpha
        .create_invoice(10_000_000, "electrum to esplora", 3600)
        .await
        .expect("invoice");
    assert_eq!(
        pay(&*beta, &invoice.bolt11).await.state,
        PaymentState::Succeeded
    );
    wait_until("alpha's balance settles", DEFAULT_WAIT, || {
        outbound_msat(&*alpha) == alpha_before - 30_000_000
    })
    .await
    .expect("alpha paid 40k and received 10k sat");

    // Two hops, Esplora → Electrum → RPC node.
    wait_routable(&lab, "alpha", "beta", "carol").await;
    let invoice = carol
        .create_invoice(5_000_000, "routed", 3600)
        .await
        .expect("invoice");
    let routed = pay(&*alpha, &invoice.bolt11).await;
    assert_eq!(routed.state, PaymentState::Succeeded);
    assert!(
        routed.fee_msat.unwrap_or(0) > 0,
        "beta charged a routing fee"
    );

    // A cooperative close: the Esplora node must see its funding output spent and confirmed.
    let onchain_before = alpha.onchain_balance().total_sat;
    let channel = alpha.channels()[0].channel.clone();
    alpha
        .close_channel(&channel, false)
        .await
        .expect("cooperative close");
    wait_until("closing tx broadcast", DEFAULT_WAIT, || {
        !lab.devnet.mempool_txids().is_empty()
    })
    .await
    .expect("close tx");
    lab.mine(1).await.expect("mine");
    wait_until("close seen on both sides", DEFAULT_WAIT, || {
        alpha.channels().is_empty() && beta.channels().len() == 1
    })
    .await
    .expect("channel gone");
    lab.sync_polling_nodes().await.expect("sync");
    let expected_sat = onchain_before + CHANNEL_SAT / 2 - 35_000 - 20_000;
    wait_until("alpha's share back on chain", DEFAULT_WAIT, || {
        alpha.onchain_balance().total_sat > expected_sat
    })
    .await
    .expect("alpha's share returned, minus payments and the closing fee");
}
