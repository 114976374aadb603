//! `testkit`: deterministic test doubles for Fulgur's own tests.
//!
//! [`FakeNode`] is a [`LightningNode`] a test scripts: it issues real, signed BOLT11
//! invoices (so the gateway's decoder and checks run as in production), records every send,
//! and reports payments as the test decides. The events a real node would emit are
//! returned to the test, which hands them to the gateway's sink in whatever order,
//! duplication or staleness it wants to try. Real LDK nodes stay the proof that the flows
//! work; this is for the edge cases they cannot produce on demand (a stale failure from
//! another node, a crash between claim and send, a node leaving the pool).
//!
//! [`forge_invoice`] signs an invoice with any key for any payment hash: what an attacker
//! does to claim someone else's invoice.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use ldk_node::bitcoin::hashes::{sha256, Hash};
use ldk_node::bitcoin::secp256k1::{Secp256k1, SecretKey};
use ldk_node::lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
use node_pool::{
    decode_invoice, ChannelInfo, ChannelRef, Invoice, LightningNode, Liquidity, NodeError,
    NodeEvent, NodeInfo, OnchainBalance, OnchainPayment, PaymentDirection, PaymentInfo,
    PaymentState, PeerAddress,
};
use tokio::sync::broadcast;

/// A 32-byte secret key from a one-byte seed: deterministic identities for tests.
fn key_of(seed: u8) -> SecretKey {
    let mut bytes = [0u8; 32];
    bytes[31] = seed.max(1);
    bytes[0] = 0x42;
    SecretKey::from_slice(&bytes).expect("a valid scalar")
}

/// A regtest BOLT11 invoice for `payment_hash_hex`, signed by the key of `signer_seed`.
/// With another signer or amount than the real invoice's, it is a forgery that reuses the
/// real invoice's payment hash.
pub fn forge_invoice(
    signer_seed: u8,
    payment_hash_hex: &str,
    amount_msat: Option<u64>,
    description: &str,
) -> String {
    let hash = hex::decode(payment_hash_hex).expect("hex payment hash");
    let hash = sha256::Hash::from_slice(&hash).expect("32 bytes");
    signed(signer_seed, hash, amount_msat, description, 3_600).to_string()
}

fn signed(
    signer_seed: u8,
    hash: sha256::Hash,
    amount_msat: Option<u64>,
    description: &str,
    expiry_secs: u32,
) -> ldk_node::lightning_invoice::Bolt11Invoice {
    let key = key_of(signer_seed);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    let builder = InvoiceBuilder::new(Currency::Regtest)
        .description(description.to_string())
        .payment_hash(hash)
        .payment_secret(PaymentSecret([7; 32]))
        .duration_since_epoch(now)
        .expiry_time(Duration::from_secs(u64::from(expiry_secs)))
        .min_final_cltv_expiry_delta(144);
    let builder = match amount_msat {
        Some(amount) => builder.amount_milli_satoshis(amount),
        None => builder,
    };
    builder
        .build_signed(|message| Secp256k1::new().sign_ecdsa_recoverable(message, &key))
        .expect("a well-formed invoice")
}

#[derive(Default)]
struct State {
    running: bool,
    liquidity_msat: u64,
    /// Invoices this node issued: hash → preimage.
    issued: HashMap<String, String>,
    payments: HashMap<String, PaymentInfo>,
    /// Every BOLT11 handed to `pay_invoice` or `resume_payment`, in order.
    sends: Vec<String>,
    /// Errors the next sends answer with, in order.
    refuse_next: Vec<NodeError>,
}

/// A scriptable Lightning node. Cheap to create; no IO.
pub struct FakeNode {
    name: String,
    seed: u8,
    state: Mutex<State>,
    counter: AtomicU64,
    events: broadcast::Sender<NodeEvent>,
}

impl FakeNode {
    /// A running node named `name` whose key comes from `seed` (distinct seeds, distinct
    /// node ids), able to send and receive 10 BTC.
    pub fn new(name: &str, seed: u8) -> Self {
        let (events, _) = broadcast::channel(1_024);
        Self {
            name: name.to_string(),
            seed,
            state: Mutex::new(State {
                running: true,
                liquidity_msat: 1_000_000_000_000,
                ..State::default()
            }),
            counter: AtomicU64::new(0),
            events,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The node's public key, hex.
    pub fn node_id(&self) -> String {
        key_of(self.seed).public_key(&Secp256k1::new()).to_string()
    }

    /// Stops or restarts answering as a running node (a node leaving the pool).
    pub fn set_running(&self, running: bool) {
        self.state().running = running;
    }

    /// The BOLT11 strings sent so far, in order.
    pub fn sends(&self) -> Vec<String> {
        self.state().sends.clone()
    }

    /// The next send answers `error` instead of starting a payment.
    pub fn refuse_next_send(&self, error: NodeError) {
        self.state().refuse_next.push(error);
    }

    /// The payment with `payment_hash` succeeded: the node's record says so, and the event
    /// the node would emit is returned for the test to deliver.
    pub fn succeed(&self, payment_hash: &str, fee_msat: u64) -> NodeEvent {
        self.succeed_with_fee(payment_hash, Some(fee_msat))
    }

    /// As [`FakeNode::succeed`], with the fee as the node knows it (`None`: it never learnt
    /// it, as ldk-node may report).
    pub fn succeed_with_fee(&self, payment_hash: &str, fee_msat: Option<u64>) -> NodeEvent {
        let preimage = format!("{:064x}", self.counter.fetch_add(1, Ordering::Relaxed));
        let mut state = self.state();
        let payment = state
            .payments
            .get_mut(payment_hash)
            .expect("a payment this node sent");
        payment.state = PaymentState::Succeeded;
        payment.fee_msat = fee_msat;
        payment.preimage = Some(preimage.clone());
        NodeEvent::PaymentSucceeded {
            node: self.name.clone(),
            payment_hash: payment_hash.to_string(),
            preimage: Some(preimage),
            fee_msat,
        }
    }

    /// The payment with `payment_hash` failed for good (if the node still had it pending:
    /// a settled payment stays settled); returns the node's failure event, which a test
    /// may also deliver as a stale or duplicate report.
    pub fn fail(&self, payment_hash: &str, reason: &str) -> NodeEvent {
        if let Some(payment) = self.state().payments.get_mut(payment_hash) {
            if payment.state == PaymentState::Pending {
                payment.state = PaymentState::Failed {
                    reason: reason.to_string(),
                };
            }
        }
        NodeEvent::PaymentFailed {
            node: self.name.clone(),
            payment_hash: Some(payment_hash.to_string()),
            reason: reason.to_string(),
        }
    }

    /// An outsider paid our invoice `payment_hash` with `amount_msat`; returns the event.
    pub fn receive(&self, payment_hash: &str, amount_msat: u64) -> NodeEvent {
        let preimage = self.state().issued.get(payment_hash).cloned();
        self.state().payments.insert(
            payment_hash.to_string(),
            PaymentInfo {
                payment_hash: payment_hash.to_string(),
                direction: PaymentDirection::Inbound,
                amount_msat: Some(amount_msat),
                fee_msat: None,
                preimage,
                state: PaymentState::Succeeded,
            },
        );
        NodeEvent::PaymentReceived {
            node: self.name.clone(),
            payment_hash: payment_hash.to_string(),
            amount_msat,
        }
    }

    fn send(&self, bolt11: &str, amount_msat: Option<u64>) -> Result<String, NodeError> {
        let invoice = decode_invoice(bolt11)?;
        let mut state = self.state();
        if !state.running {
            return Err(NodeError::NotRunning);
        }
        state.sends.push(bolt11.to_string());
        if !state.refuse_next.is_empty() {
            return Err(state.refuse_next.remove(0));
        }
        let hash = invoice.payment_hash.clone();
        // Idempotent per hash, as the trait asks: a live or paid payment is not sent again.
        let live = state
            .payments
            .get(&hash)
            .is_some_and(|p| !matches!(p.state, PaymentState::Failed { .. }));
        if !live {
            state.payments.insert(
                hash.clone(),
                PaymentInfo {
                    payment_hash: hash.clone(),
                    direction: PaymentDirection::Outbound,
                    amount_msat: invoice.amount_msat.or(amount_msat),
                    fee_msat: None,
                    preimage: None,
                    state: PaymentState::Pending,
                },
            );
        }
        Ok(hash)
    }
}

fn unscripted() -> NodeError {
    NodeError::Backend("the fake node does not script this".into())
}

#[async_trait]
impl LightningNode for FakeNode {
    fn name(&self) -> &str {
        &self.name
    }

    fn info(&self) -> NodeInfo {
        NodeInfo {
            name: self.name.clone(),
            node_id: self.node_id(),
            listen: SocketAddr::from(([127, 0, 0, 1], 9_735)),
            running: self.state().running,
            best_block_height: 0,
        }
    }

    async fn new_onchain_address(&self) -> Result<String, NodeError> {
        Err(unscripted())
    }

    fn onchain_balance(&self) -> OnchainBalance {
        OnchainBalance {
            total_sat: 0,
            spendable_sat: 0,
            closing_sat: 0,
        }
    }

    fn onchain_fees_paid_sat(&self) -> u64 {
        0
    }

    async fn sweep_onchain(&self, _address: &str) -> Result<String, NodeError> {
        Err(unscripted())
    }

    fn onchain_payment(&self, _txid: &str) -> Option<OnchainPayment> {
        None
    }

    async fn open_channel(
        &self,
        _peer: &PeerAddress,
        _capacity_sat: u64,
        _push_msat: u64,
        _announce: bool,
    ) -> Result<ChannelRef, NodeError> {
        Err(unscripted())
    }

    async fn close_channel(&self, _channel: &ChannelRef, _force: bool) -> Result<(), NodeError> {
        Err(unscripted())
    }

    fn channels(&self) -> Vec<ChannelInfo> {
        Vec::new()
    }

    fn liquidity(&self) -> Liquidity {
        let state = self.state();
        Liquidity {
            running: state.running,
            usable_channels: usize::from(state.running),
            sendable_msat: state.liquidity_msat,
            receivable_msat: state.liquidity_msat,
        }
    }

    async fn create_invoice(
        &self,
        amount_msat: u64,
        description: &str,
        expiry_secs: u32,
    ) -> Result<Invoice, NodeError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let preimage = sha256::Hash::hash(format!("{}:{n}", self.name).as_bytes());
        let hash = sha256::Hash::hash(preimage.as_byte_array());
        let invoice = signed(self.seed, hash, Some(amount_msat), description, expiry_secs);
        let payment_hash = hex::encode(hash.as_byte_array());
        self.state()
            .issued
            .insert(payment_hash.clone(), hex::encode(preimage.as_byte_array()));
        Ok(Invoice {
            bolt11: invoice.to_string(),
            payment_hash,
            amount_msat,
            expires_at_unix_secs: invoice.duration_since_epoch().as_secs() + u64::from(expiry_secs),
        })
    }

    async fn pay_invoice(
        &self,
        bolt11: &str,
        amount_msat: Option<u64>,
        _max_fee_msat: Option<u64>,
    ) -> Result<String, NodeError> {
        self.send(bolt11, amount_msat)
    }

    async fn resume_payment(
        &self,
        bolt11: &str,
        amount_msat: Option<u64>,
        _max_fee_msat: Option<u64>,
    ) -> Result<String, NodeError> {
        self.send(bolt11, amount_msat)
    }

    fn payment(&self, payment_hash: &str) -> Option<PaymentInfo> {
        self.state().payments.get(payment_hash).cloned()
    }

    fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    async fn stop(&self) -> Result<(), NodeError> {
        self.set_running(false);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn invoices_are_real_and_forgeries_decode_with_another_payee() {
        let node = FakeNode::new("alpha", 1);
        let invoice = node
            .create_invoice(5_000_000, "order 42", 600)
            .await
            .expect("invoice");
        let decoded = decode_invoice(&invoice.bolt11).expect("decodes");
        assert_eq!(decoded.payment_hash, invoice.payment_hash);
        assert_eq!(decoded.amount_msat, Some(5_000_000));
        assert_eq!(decoded.payee, node.node_id());
        let forged = forge_invoice(99, &invoice.payment_hash, Some(1_000), "order 42");
        let forged = decode_invoice(&forged).expect("a forgery is a valid invoice");
        assert_eq!(forged.payment_hash, invoice.payment_hash);
        assert_ne!(forged.payee, node.node_id());
    }

    #[tokio::test]
    async fn sends_are_recorded_idempotent_and_scriptable() {
        let node = FakeNode::new("alpha", 1);
        let payee = FakeNode::new("carol", 3);
        let invoice = payee
            .create_invoice(1_000, "x", 600)
            .await
            .expect("invoice");
        let hash = node
            .pay_invoice(&invoice.bolt11, None, None)
            .await
            .expect("sent");
        node.pay_invoice(&invoice.bolt11, None, None)
            .await
            .expect("same");
        assert_eq!(node.sends().len(), 2);
        assert_eq!(
            node.payment(&hash).map(|p| p.state),
            Some(PaymentState::Pending)
        );
        node.succeed(&hash, 7);
        assert_eq!(node.payment(&hash).and_then(|p| p.fee_msat), Some(7));
        node.refuse_next_send(NodeError::NoRouteNow);
        assert_eq!(
            node.pay_invoice(&invoice.bolt11, None, None).await,
            Err(NodeError::NoRouteNow)
        );
    }
}
