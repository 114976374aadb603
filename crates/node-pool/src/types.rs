//! Plain data the node abstraction speaks: no backend types leak through it.

use std::net::SocketAddr;

/// A node's public key, hex.
pub type NodeId = String;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub node_id: NodeId,
    pub listen: SocketAddr,
    pub running: bool,
    /// Height of the best block the node has processed.
    pub best_block_height: u32,
}

/// What the pool chooses a node by, read without formatting ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liquidity {
    pub running: bool,
    pub usable_channels: usize,
    /// Sum over usable channels of the largest HTLC each can send now.
    pub sendable_msat: u64,
    /// Sum over usable channels of what the counterparty can send us.
    pub receivable_msat: u64,
}

/// Where to reach a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddress {
    pub node_id: NodeId,
    pub address: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnchainBalance {
    pub total_sat: u64,
    /// Spendable now, less the anchor reserve.
    pub spendable_sat: u64,
    /// Funds of closed channels not yet back in the wallet: outputs still time-locked
    /// (CSV, HTLC timeouts) and outputs being swept.
    pub closing_sat: u64,
}

/// An on-chain payment of the node's wallet, as its payment store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnchainPayment {
    pub txid: String,
    /// What left the wallet for others (outbound) or arrived (inbound), fee excluded.
    pub amount_sat: u64,
    pub fee_sat: u64,
    pub confirmed: bool,
}

/// Identifies a channel to its owner: the local id plus the counterparty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChannelRef {
    /// Decimal `u128` user channel id.
    pub user_channel_id: String,
    pub counterparty: NodeId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    pub channel: ChannelRef,
    /// Hex channel id.
    pub channel_id: String,
    pub capacity_sat: u64,
    /// Our side of the channel, our reserve included, outbound HTLCs in flight excluded:
    /// what the books compare with (exact while `outbound_msat > 0`).
    pub balance_msat: u64,
    pub outbound_msat: u64,
    pub inbound_msat: u64,
    /// The largest single HTLC this channel can send now.
    pub next_outbound_htlc_limit_msat: u64,
    pub funding_txid: Option<String>,
    pub confirmations: u32,
    pub is_ready: bool,
    pub is_usable: bool,
    pub is_announced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub bolt11: String,
    /// Hex payment hash.
    pub payment_hash: String,
    pub amount_msat: u64,
    pub expires_at_unix_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentDirection {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentState {
    Pending,
    Succeeded,
    Failed { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentInfo {
    pub payment_hash: String,
    pub direction: PaymentDirection,
    pub amount_msat: Option<u64>,
    pub fee_msat: Option<u64>,
    /// Hex preimage, once known (proof of payment).
    pub preimage: Option<String>,
    pub state: PaymentState,
}

/// What happened on a node, in the order the node reports it. Serializable: the node
/// journals events until its sink has recorded them (`event_journal.rs`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NodeEvent {
    PaymentReceived {
        node: String,
        payment_hash: String,
        amount_msat: u64,
    },
    PaymentSucceeded {
        node: String,
        payment_hash: String,
        preimage: Option<String>,
        fee_msat: Option<u64>,
    },
    PaymentFailed {
        node: String,
        payment_hash: Option<String>,
        reason: String,
    },
    PaymentForwarded {
        node: String,
        fee_earned_msat: Option<u64>,
    },
    ChannelPending {
        node: String,
        channel_id: String,
        counterparty: NodeId,
    },
    ChannelReady {
        node: String,
        channel_id: String,
        counterparty: Option<NodeId>,
    },
    ChannelClosed {
        node: String,
        channel_id: String,
        reason: String,
    },
}
