//! How to build one embedded node.

use std::net::SocketAddr;
use std::path::PathBuf;

use ldk_node::bitcoin::Network;

/// Where a node learns about the chain and broadcasts transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainSource {
    /// bitcoind's JSON-RPC — also what the devnet chain speaks.
    BitcoindRpc {
        host: String,
        port: u16,
        user: String,
        password: String,
    },
    Esplora {
        url: String,
    },
    Electrum {
        url: String,
    },
}

/// Where a node keeps its channel state, wallet and payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodeStore {
    /// Fulgur's group-commit log (`node-store`): durable, one fsync per batch of writes.
    #[default]
    Log,
    /// ldk-node's SQLite store: durable, several fsyncs per write, one writer at a time.
    Sqlite,
}

/// One node's configuration. Defaults (see [`NodeConfig::new`]): regtest, anchor channels
/// with a 25,000 sat on-chain reserve per channel, the group-commit log store, ldk-node's
/// log records routed to the `log` facade (so the process's tracing subscriber filters them).
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Pool-unique name, also the node's alias (at most 32 bytes).
    pub name: String,
    pub network: Network,
    /// Channel state, wallet and keys live here (SQLite, fsynced on every update).
    pub storage_dir: PathBuf,
    /// Lightning P2P listen address.
    pub listen: SocketAddr,
    pub chain_source: ChainSource,
    /// 64 bytes of entropy for the node's keys. `None` keeps a generated seed in
    /// `storage_dir` (development only; the HSM issue feeds wrapped seeds here).
    pub seed: Option<[u8; 64]>,
    /// On-chain reserve kept per anchor channel to pay for fee bumping on force close.
    pub anchor_reserve_per_channel_sat: u64,
    pub store: NodeStore,
    /// Sees every event before the node forgets it (see [`crate::EventSink`]); without one,
    /// events are only broadcast to subscribers, who may miss them.
    pub event_sink: Option<crate::SinkHandle>,
}

impl NodeConfig {
    pub fn new(
        name: impl Into<String>,
        storage_dir: PathBuf,
        listen: SocketAddr,
        chain_source: ChainSource,
    ) -> Self {
        Self {
            name: name.into(),
            network: Network::Regtest,
            storage_dir,
            listen,
            chain_source,
            seed: None,
            anchor_reserve_per_channel_sat: 25_000,
            store: NodeStore::default(),
            event_sink: None,
        }
    }
}
