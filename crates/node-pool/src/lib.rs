//! `node-pool`: Lightning nodes behind one abstraction ([`LightningNode`]), the embedded
//! ldk-node backend ([`LdkNode`]), and a [`NodePool`] that picks a healthy node with enough
//! outbound liquidity for each payment.
//!
//! This crate knows nothing of HTTP, the ledger or tenants: amounts are msat, ids are hex.

mod address;
mod chain_tip;
mod channel_balance;
mod config;
mod durability;
mod error;
mod event_journal;
mod invoice;
mod ldk;
mod node;
mod pool;
mod sink;
mod types;

pub use crate::address::parse_address;
pub use crate::chain_tip::{ChainSourceTip, ChainTip};
pub use crate::config::{ChainSource, NodeConfig, NodeSeed, NodeStore};
pub use crate::error::{NodeError, PoolError};
pub use crate::invoice::{decode_invoice, DecodedInvoice};
pub use crate::ldk::LdkNode;
pub use crate::node::LightningNode;
pub use crate::pool::{NodeHealth, NodePool, NodeStatus};
pub use crate::sink::{EventSink, SinkHandle};
pub use crate::types::{
    ChannelInfo, ChannelRef, Invoice, Liquidity, NodeEvent, NodeId, NodeInfo, OnchainBalance,
    OnchainPayment, PaymentDirection, PaymentInfo, PaymentState, PeerAddress,
};
pub use ldk_node::bitcoin::Network;
