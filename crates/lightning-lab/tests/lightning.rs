//! Real ldk-nodes over real TCP on the devnet chain: payments, routing, closes, restarts,
//! and typed errors for bad input.

use std::time::Duration;

mod common;

use common::{outbound_msat, pay, wait_routable};
use lightning_lab::{wait_until, ChannelSpec, Lab, LabConfig, DEFAULT_WAIT};
use node_pool::{LightningNode, NodeError, PaymentState, PoolError};

const CHANNEL_SAT: u64 = 2_000_000;

fn lab_config(dir: &tempfile::TempDir, nodes: &[&str]) -> LabConfig {
    LabConfig::new(dir.path().to_path_buf(), nodes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_pay_each_other_both_ways_and_both_sides_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = Lab::start(lab_config(&dir, &["alpha", "beta"]).balanced_channel(
        "alpha",
        "beta",
        CHANNEL_SAT,
    ))
    .await
    .expect("lab");
    let (alpha, beta) = (
        lab.node("alpha").expect("alpha"),
        lab.node("beta").expect("beta"),
    );
    let (alpha_before, beta_before) = (outbound_msat(&*alpha), outbound_msat(&*beta));

    let invoice = beta
        .create_invoice(50_000_000, "alpha to beta", 3600)
        .await
        .expect("invoice");
    let paid = pay(&*alpha, &invoice.bolt11).await;
    assert_eq!(paid.state, PaymentState::Succeeded);
    assert_eq!(paid.fee_msat, Some(0), "direct channel, no routing fee");
    assert!(paid.preimage.is_some());
    let received = beta
        .payment(&invoice.payment_hash)
        .expect("beta knows the payment");
    assert_eq!(received.state, PaymentState::Succeeded);
    assert_eq!(received.amount_msat, Some(50_000_000));

    let invoice = alpha
        .create_invoice(20_000_000, "beta to alpha", 3600)
        .await
        .expect("invoice");
    assert_eq!(
        pay(&*beta, &invoice.bolt11).await.state,
        PaymentState::Succeeded
    );

    wait_until("balances settle", DEFAULT_WAIT, || {
        outbound_msat(&*alpha) == alpha_before - 30_000_000
            && outbound_msat(&*beta) == beta_before + 30_000_000
    })
    .await
    .expect("alpha lost exactly 30,000 sat net and beta gained it");
    let (a, b) = (&alpha.channels()[0], &beta.channels()[0]);
    assert_eq!(
        (&a.channel_id, a.capacity_sat),
        (&b.channel_id, b.capacity_sat),
        "both sides see the same channel"
    );
    lab.shutdown().await.expect("shutdown");
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
    wait_routable(&lab, "alpha", "carol", "beta").await;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cooperative_close_and_force_close_return_funds_on_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = lab_config(&dir, &["alpha", "beta"])
        .balanced_channel("alpha", "beta", CHANNEL_SAT)
        .balanced_channel("alpha", "beta", CHANNEL_SAT);
    let lab = Lab::start(config).await.expect("lab");
    let (alpha, beta) = (
        lab.node("alpha").expect("alpha"),
        lab.node("beta").expect("beta"),
    );
    let channels = alpha.channels();
    assert_eq!(channels.len(), 2);

    let onchain_before = alpha.onchain_balance().total_sat;
    alpha
        .close_channel(&channels[0].channel, false)
        .await
        .expect("cooperative close");
    wait_until("closing tx broadcast", DEFAULT_WAIT, || {
        !lab.devnet.mempool_txids().is_empty()
    })
    .await
    .expect("close tx");
    lab.mine(1).await.expect("mine");
    wait_until("cooperative close settles", DEFAULT_WAIT, || {
        alpha.channels().len() == 1 && beta.channels().len() == 1
    })
    .await
    .expect("channel gone on both sides");
    wait_until("alpha's half is back on chain", DEFAULT_WAIT, || {
        alpha.onchain_balance().total_sat > onchain_before + CHANNEL_SAT / 2 - 20_000
    })
    .await
    .expect("alpha's share returned, minus the closing fee");

    let remaining = alpha.channels()[0].clone();
    let to_self_sat = remaining.outbound_msat / 1000;
    let onchain_before = alpha.onchain_balance().total_sat;
    alpha
        .close_channel(&remaining.channel, true)
        .await
        .expect("force close");
    wait_until("commitment broadcast", DEFAULT_WAIT, || {
        !lab.devnet.mempool_txids().is_empty()
    })
    .await
    .expect("commitment");
    lab.mine(1).await.expect("mine");
    wait_until(
        "alpha's output waits for its CSV delay",
        DEFAULT_WAIT,
        || alpha.onchain_balance().closing_sat > 0,
    )
    .await
    .expect("pending sweep appears");
    // The to_self output is locked for the counterparty-chosen delay (LDK default 144 blocks):
    // before it, alpha's on-chain balance has not grown by its channel balance.
    assert!(alpha.onchain_balance().total_sat < onchain_before + to_self_sat / 2);
    for _ in 0..15 {
        lab.mine(10).await.expect("mine");
    }
    wait_until("sweep broadcast after the CSV delay", DEFAULT_WAIT, || {
        !lab.devnet.mempool_txids().is_empty()
    })
    .await
    .expect("sweep tx");
    lab.mine(1).await.expect("mine");
    wait_until("swept to the wallet", DEFAULT_WAIT, || {
        alpha.onchain_balance().total_sat > onchain_before + to_self_sat - 30_000
    })
    .await
    .expect("to_self output swept back to alpha's wallet");
    wait_until("sweep final", DEFAULT_WAIT, || {
        alpha.onchain_balance().closing_sat == 0
    })
    .await
    .expect("nothing left closing");
    lab.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_node_keeps_its_channels_and_keeps_paying() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lab = Lab::start(lab_config(&dir, &["alpha", "beta"]).balanced_channel(
        "alpha",
        "beta",
        CHANNEL_SAT,
    ))
    .await
    .expect("lab");
    let beta = lab.node("beta").expect("beta");
    let invoice = beta
        .create_invoice(1_000_000, "before restart", 3600)
        .await
        .expect("invoice");
    let first = pay(&*lab.node("alpha").expect("alpha"), &invoice.bolt11).await;
    assert_eq!(first.state, PaymentState::Succeeded);
    let channels_before = lab.node("alpha").expect("alpha").channels();

    let alpha = lab.restart_node("alpha").await.expect("restart");
    wait_until("channel usable again", DEFAULT_WAIT, || {
        alpha.channels().iter().all(|c| c.is_usable) && !alpha.channels().is_empty()
    })
    .await
    .expect("reconnected");
    let channels_after = alpha.channels();
    assert_eq!(channels_after.len(), channels_before.len());
    assert_eq!(channels_after[0].channel_id, channels_before[0].channel_id);
    assert_eq!(
        channels_after[0].outbound_msat,
        channels_before[0].outbound_msat
    );
    assert_eq!(
        alpha.payment(&first.payment_hash).map(|p| p.state),
        Some(PaymentState::Succeeded),
        "history kept"
    );

    let invoice = beta
        .create_invoice(2_000_000, "after restart", 3600)
        .await
        .expect("invoice");
    assert_eq!(
        pay(&*alpha, &invoice.bolt11).await.state,
        PaymentState::Succeeded
    );
    lab.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_a_typed_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = Lab::start(lab_config(&dir, &["alpha", "beta"]).channel(ChannelSpec {
        from: "alpha".into(),
        to: "beta".into(),
        capacity_sat: CHANNEL_SAT,
        push_msat: 0,
    }))
    .await
    .expect("lab");
    let (alpha, beta) = (
        lab.node("alpha").expect("alpha"),
        lab.node("beta").expect("beta"),
    );

    assert!(matches!(
        alpha.pay_invoice("lnbcrt1notaninvoice", None, None).await,
        Err(NodeError::InvalidInvoice(_))
    ));
    assert!(matches!(
        alpha.pay_invoice("", None, None).await,
        Err(NodeError::InvalidInvoice(_))
    ));

    let expiring = beta
        .create_invoice(1_000, "expires", 1)
        .await
        .expect("invoice");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(
        alpha.pay_invoice(&expiring.bolt11, None, None).await,
        Err(NodeError::InvoiceExpired)
    );

    let too_big = beta
        .create_invoice(CHANNEL_SAT * 1000, "more than the channel", 3600)
        .await
        .expect("invoice");
    assert!(matches!(
        alpha.pay_invoice(&too_big.bolt11, None, None).await,
        Err(NodeError::InsufficientLiquidity { amount_msat, .. }) if amount_msat == CHANNEL_SAT * 1000
    ));
    // The whole channel is alpha's, less the two anchors it funds; beta's side is nothing,
    // not its reserve.
    assert_eq!(alpha.channels()[0].balance_msat, (CHANNEL_SAT - 660) * 1000);
    assert_eq!(beta.channels()[0].balance_msat, 0);
    // beta has no outbound liquidity at all in this channel.
    let small = alpha
        .create_invoice(1_000_000, "beta cannot pay", 3600)
        .await
        .expect("invoice");
    assert!(matches!(
        beta.pay_invoice(&small.bolt11, None, None).await,
        Err(NodeError::InsufficientLiquidity { .. })
    ));
    assert!(matches!(
        beta.create_invoice(0, "zero", 3600).await,
        Err(NodeError::InvalidAmount { .. })
    ));

    assert!(matches!(
        lab.pool.select_for_payment(CHANNEL_SAT * 1000, None),
        Err(PoolError::NoCapacity { .. })
    ));
    let chosen = lab
        .pool
        .select_for_payment(1_000_000, None)
        .expect("alpha can send");
    assert_eq!(chosen.name(), "alpha");
    assert_eq!(lab.pool.get("alpha").expect("member").info(), alpha.info());
    assert!(matches!(
        lab.pool.get("nobody"),
        Err(PoolError::UnknownNode(_))
    ));
    lab.pool.fence("alpha", "drill").expect("fence");
    assert!(
        matches!(
            lab.pool.select_for_payment(1_000_000, None),
            Err(PoolError::NoCapacity { .. })
        ),
        "fenced node out of rotation"
    );
    lab.pool.restore("alpha").expect("restore");
    alpha.stop().await.expect("stop");
    assert!(
        matches!(
            lab.pool.select_for_payment(1_000_000, None),
            Err(PoolError::NoCapacity { .. })
        ),
        "stopped node out of rotation"
    );
    lab.shutdown().await.expect("shutdown");
}
