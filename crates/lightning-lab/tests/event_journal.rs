//! A node event its sink has not recorded survives the node's stop: the pump acknowledges
//! ldk-node's event once it is journaled (`node-pool/src/event_journal.rs`), and the
//! journal hands it to the sink after the restart. Real ldk-nodes on the devnet chain.
//!
//! The event is the payer's `PaymentSucceeded`: LDK does not generate it again at a
//! restart, so only the journal can bring it back (the payee's `PaymentReceived` is no
//! test of that: LDK replays the claim at start and ldk-node reports it again).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use lightning_lab::{wait_until, Lab, LabConfig, DEFAULT_WAIT};
use node_pool::{EventSink, LightningNode, NodeEvent, PaymentState};

#[allow(dead_code)] // this test needs one of the shared helpers
mod common;

use common::pay;

const CHANNEL_SAT: u64 = 2_000_000;
const AMOUNT_MSAT: u64 = 12_345_000;

/// Records what it accepts; while refusing, counts the offers it turns down.
#[derive(Default)]
struct Recorder {
    refusing: AtomicBool,
    refused: AtomicUsize,
    accepted: Mutex<Vec<NodeEvent>>,
}

impl Recorder {
    fn succeeded(&self, hash: &str) -> Vec<u64> {
        self.accepted
            .lock()
            .expect("lock")
            .iter()
            .filter_map(|e| match e {
                NodeEvent::PaymentSucceeded {
                    payment_hash,
                    fee_msat,
                    ..
                } if payment_hash == hash => Some(fee_msat.unwrap_or(0)),
                _ => None,
            })
            .collect()
    }
}

#[async_trait]
impl EventSink for Recorder {
    async fn handle(&self, event: &NodeEvent) -> Result<(), String> {
        if self.refusing.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err("the sink is down".into());
        }
        self.accepted.lock().expect("lock").push(event.clone());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_the_sink_refused_before_a_stop_reaches_it_after_the_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recorder = Arc::new(Recorder::default());
    let config = LabConfig::new(dir.path().to_path_buf(), &["alpha", "beta"])
        .balanced_channel("alpha", "beta", CHANNEL_SAT)
        .event_sink("alpha", recorder.clone());
    let mut lab = Lab::start(config).await.expect("lab");
    let (alpha, beta) = (
        lab.node("alpha").expect("alpha"),
        lab.node("beta").expect("beta"),
    );

    recorder.refusing.store(true, Ordering::SeqCst);
    let invoice = beta
        .create_invoice(AMOUNT_MSAT, "while the sink is down", 3600)
        .await
        .expect("invoice");
    assert_eq!(
        pay(&*alpha, &invoice.bolt11).await.state,
        PaymentState::Succeeded
    );
    wait_until("beta has the payment", DEFAULT_WAIT, || {
        beta.payment(&invoice.payment_hash)
            .is_some_and(|p| p.state == PaymentState::Succeeded)
    })
    .await
    .expect("beta received it");
    // Several refusals (retries back off from 50 ms): by then ldk-node has long had the
    // event acknowledged and LDK has persisted its channel manager, so nothing but the
    // journal holds the event when the node stops.
    wait_until(
        "the sink was offered the event again and again",
        DEFAULT_WAIT,
        || recorder.refused.load(Ordering::SeqCst) >= 4,
    )
    .await
    .expect("offered while refusing");
    assert!(
        recorder.succeeded(&invoice.payment_hash).is_empty(),
        "a refused event is not recorded"
    );

    lab.stop_node("alpha").await.expect("alpha stops");
    drop(alpha);
    recorder.refusing.store(false, Ordering::SeqCst);
    lab.resume_node("alpha").await.expect("alpha starts again");
    wait_until("the event reaches the sink", DEFAULT_WAIT, || {
        !recorder.succeeded(&invoice.payment_hash).is_empty()
    })
    .await
    .expect("delivered after the restart");
    let fees = recorder.succeeded(&invoice.payment_hash);
    assert!(
        fees.iter().all(|fee_msat| *fee_msat == 0),
        "the event is the one the node reported (a direct channel: no fee): {fees:?}"
    );
    lab.shutdown().await.expect("shutdown");
}
