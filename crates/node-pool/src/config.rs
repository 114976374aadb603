//! How to build one embedded node.

use std::net::SocketAddr;
use std::path::PathBuf;

use ldk_node::bitcoin::Network;
use zeroize::Zeroizing;

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

/// 64 bytes of entropy all of a node's keys derive from: zeroized when dropped, never
/// printed.
#[derive(Clone)]
pub struct NodeSeed(Zeroizing<[u8; 64]>);

impl NodeSeed {
    pub fn new(bytes: Zeroizing<[u8; 64]>) -> Self {
        Self(bytes)
    }

    pub(crate) fn bytes(&self) -> [u8; 64] {
        *self.0
    }
}

impl std::fmt::Debug for NodeSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeSeed(redacted)")
    }
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
    /// The node's seed. `None` lets ldk-node keep a generated seed in clear in
    /// `storage_dir/keys_seed` (tests only; Fulgur's nodes get theirs from the vault).
    pub seed: Option<NodeSeed>,
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
