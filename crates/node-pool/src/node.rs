//! The one abstraction the rest of Fulgur uses to talk to a Lightning node. ldk-node is the
//! embedded backend; a remote LND or CLN would implement the same trait.

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::error::NodeError;
use crate::types::{
    ChannelInfo, ChannelRef, Invoice, Liquidity, NodeEvent, NodeInfo, OnchainBalance,
    OnchainPayment, PaymentInfo, PeerAddress,
};

#[async_trait]
pub trait LightningNode: Send + Sync {
    fn name(&self) -> &str;

    fn info(&self) -> NodeInfo;

    async fn new_onchain_address(&self) -> Result<String, NodeError>;

    fn onchain_balance(&self) -> OnchainBalance;

    /// Fees the node's wallet has paid for its own on-chain transactions (channel
    /// funding, sweeps, fee bumps), in sat, as far as its payment store knows.
    fn onchain_fees_paid_sat(&self) -> u64;

    /// Sends everything the wallet holds to `address`, reserving nothing: for a node whose
    /// channels are all closed (a recovery). Returns the transaction id.
    async fn sweep_onchain(&self, address: &str) -> Result<String, NodeError>;

    /// An on-chain payment by transaction id, once the wallet has seen it.
    fn onchain_payment(&self, txid: &str) -> Option<OnchainPayment>;

    /// Connects to `peer` if needed and opens a channel, pushing `push_msat` to the peer.
    /// `announce` makes the channel public so others can route through it.
    async fn open_channel(
        &self,
        peer: &PeerAddress,
        capacity_sat: u64,
        push_msat: u64,
        announce: bool,
    ) -> Result<ChannelRef, NodeError>;

    /// Closes cooperatively, or unilaterally when `force` (funds return after the CSV delay).
    async fn close_channel(&self, channel: &ChannelRef, force: bool) -> Result<(), NodeError>;

    fn channels(&self) -> Vec<ChannelInfo>;

    /// Whether the node runs and what its usable channels can carry; the pool reads it for
    /// every invoice and payment.
    fn liquidity(&self) -> Liquidity;

    async fn create_invoice(
        &self,
        amount_msat: u64,
        description: &str,
        expiry_secs: u32,
    ) -> Result<Invoice, NodeError>;

    /// Starts paying a BOLT11 invoice; returns its payment hash. Idempotent per payment hash:
    /// paying an invoice that is pending or paid returns the same hash without paying again.
    async fn pay_invoice(
        &self,
        bolt11: &str,
        amount_msat: Option<u64>,
        max_fee_msat: Option<u64>,
    ) -> Result<String, NodeError>;

    /// After a restart: makes sure a payment the caller recorded as sent is really in the
    /// node's hands. A node may hold a pending record for a payment its channel state never
    /// persisted (the process died between the two); such a payment is sent now. It never
    /// pays twice: the node refuses a payment it already has in flight or completed.
    async fn resume_payment(
        &self,
        bolt11: &str,
        amount_msat: Option<u64>,
        max_fee_msat: Option<u64>,
    ) -> Result<String, NodeError>;

    /// A payment by hex payment hash.
    fn payment(&self, payment_hash: &str) -> Option<PaymentInfo>;

    /// Events from now on. A receiver that falls more than the channel bound behind gets
    /// `Lagged` and must reconcile through [`LightningNode::payment`].
    fn subscribe(&self) -> broadcast::Receiver<NodeEvent>;

    async fn stop(&self) -> Result<(), NodeError>;
}
