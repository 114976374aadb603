//! `lightning-lab`: a devnet chain plus a pool of funded ldk-nodes with confirmed channels,
//! set up in one call. `fulgur demo`, the integration tests and the payment benchmark all
//! stand on it, so the topology is built one way everywhere.
//!
//! Over 500 lines: the topology is built step by step (chain, nodes, funding, channels,
//! gossip) and each step's wait depends on the one before.

mod wait;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use devnet::{Devnet, DevnetConfig, DevnetError};
use node_pool::{
    ChainSource, ChannelRef, EventSink, LdkNode, LightningNode, NodeConfig, NodeError, NodeEvent,
    NodePool, NodeSeed, NodeStore, PeerAddress, PoolError, SinkHandle,
};

pub use crate::wait::{wait_until, WaitError};

/// Default time allowed for chain sync and channel state changes.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("devnet: {0}")]
    Devnet(#[from] DevnetError),
    #[error("node: {0}")]
    Node(#[from] NodeError),
    #[error("pool: {0}")]
    Pool(#[from] PoolError),
    #[error("{0}")]
    Timeout(#[from] WaitError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("no node named {0} in the lab")]
    UnknownNode(String),
}

/// A channel to open: `from` funds it and pushes `push_msat` to `to`.
#[derive(Debug, Clone)]
pub struct ChannelSpec {
    pub from: String,
    pub to: String,
    pub capacity_sat: u64,
    pub push_msat: u64,
}

/// Which of the devnet's interfaces a node follows the chain through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChainAccess {
    /// bitcoind JSON-RPC: blocks are pushed to the node as the devnet mines them.
    #[default]
    BitcoindRpc,
    /// The Esplora REST API: the node polls.
    Esplora,
    /// The Electrum protocol: the node polls.
    Electrum,
}

#[derive(Debug, Clone)]
pub struct LabConfig {
    pub data_dir: PathBuf,
    pub nodes: Vec<String>,
    pub channels: Vec<ChannelSpec>,
    /// On-chain funds sent to each node before channels open.
    pub funding_per_node_sat: u64,
    /// Public channels, so that nodes route for each other (multi-hop).
    pub announce_channels: bool,
    pub devnet_rpc: SocketAddr,
    /// Where every node keeps its state.
    pub store: NodeStore,
    /// Nodes not listed here use bitcoind RPC.
    pub chain_access: BTreeMap<String, ChainAccess>,
    /// Durable event sinks, per node (see [`node_pool::EventSink`]).
    pub event_sinks: BTreeMap<String, SinkHandle>,
    /// Seeds given to nodes; a node without one keeps a generated seed in its directory.
    pub seeds: BTreeMap<String, NodeSeed>,
}

/// The largest channel a stock ldk-node 0.7 peer accepts: LDK's `max_funding_satoshis`
/// default without `option_support_large_channel`, which ldk-node does not expose.
pub const MAX_CHANNEL_SAT: u64 = (1 << 24) - 1;

impl LabConfig {
    /// Nodes with the given names, no channels, funded with 1 BTC each, RPC on an ephemeral
    /// port.
    pub fn new(data_dir: PathBuf, nodes: &[&str]) -> Self {
        Self {
            data_dir,
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
            channels: Vec::new(),
            funding_per_node_sat: 100_000_000,
            announce_channels: true,
            devnet_rpc: SocketAddr::from(([127, 0, 0, 1], 0)),
            store: NodeStore::default(),
            chain_access: BTreeMap::new(),
            event_sinks: BTreeMap::new(),
            seeds: BTreeMap::new(),
        }
    }

    /// Starts `node` from `seed` (from the vault) rather than a seed file of its own.
    pub fn seed(mut self, node: &str, seed: NodeSeed) -> Self {
        self.seeds.insert(node.to_string(), seed);
        self
    }

    /// Where `node` keeps its state.
    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.data_dir.join("nodes").join(node)
    }

    /// Hands every event of `node` to `sink` before the node forgets it.
    pub fn event_sink(mut self, node: &str, sink: Arc<dyn EventSink>) -> Self {
        self.event_sinks.insert(node.to_string(), SinkHandle(sink));
        self
    }

    /// Has `node` follow the chain through `access` instead of bitcoind RPC.
    pub fn chain_access(mut self, node: &str, access: ChainAccess) -> Self {
        self.chain_access.insert(node.to_string(), access);
        self
    }

    fn access_of(&self, node: &str) -> ChainAccess {
        self.chain_access.get(node).copied().unwrap_or_default()
    }

    /// Adds a channel balanced half and half.
    pub fn balanced_channel(mut self, from: &str, to: &str, capacity_sat: u64) -> Self {
        self.channels.push(ChannelSpec {
            from: from.into(),
            to: to.into(),
            capacity_sat,
            push_msat: capacity_sat * 1000 / 2,
        });
        self
    }

    pub fn channel(mut self, spec: ChannelSpec) -> Self {
        self.channels.push(spec);
        self
    }
}

/// The running lab.
pub struct Lab {
    pub devnet: Devnet,
    pub pool: Arc<NodePool>,
    config: LabConfig,
    nodes: BTreeMap<String, (Arc<LdkNode>, NodeConfig)>,
}

/// A free loopback port (bound then released; good enough for tests and the demo).
pub fn free_local_addr() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

impl Lab {
    /// Starts the devnet, the nodes, funds them and opens and confirms every channel.
    pub async fn start(config: LabConfig) -> Result<Self, LabError> {
        let wants_electrum = config
            .chain_access
            .values()
            .any(|a| *a == ChainAccess::Electrum);
        let devnet_config = DevnetConfig {
            data_dir: Some(config.data_dir.join("devnet")),
            rpc_listen: config.devnet_rpc,
            electrum_listen: wants_electrum.then(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            ..DevnetConfig::default()
        };
        let devnet = Devnet::start(devnet_config).await?;
        let mut lab = Self {
            devnet,
            pool: Arc::new(NodePool::new()),
            config,
            nodes: BTreeMap::new(),
        };
        for name in lab.config.nodes.clone() {
            lab.start_node(&name).await?;
        }
        if lab.devnet.height() == 0 {
            lab.fund_nodes().await?;
            for spec in lab.config.channels.clone() {
                lab.open_channel(&spec).await?;
            }
            lab.confirm_channels().await?;
        } else {
            // Resuming: channels must be usable again. The gossip graph may be older than
            // the channels (ldk-node persists it periodically, so a killed process may not
            // have saved it) and refills from peers in the background; direct channels route
            // without it.
            lab.reconnect_peers()?;
            lab.wait_synced().await?;
            lab.wait_usable().await?;
        }
        Ok(lab)
    }

    /// The devnet's bitcoind-compatible JSON-RPC as a chain source.
    pub fn rpc_chain_source(&self) -> ChainSource {
        ChainSource::BitcoindRpc {
            host: self.devnet.rpc_addr().ip().to_string(),
            port: self.devnet.rpc_addr().port(),
            user: self.devnet.rpc_user().to_string(),
            password: self.devnet.rpc_password().to_string(),
        }
    }

    fn node_config(&self, name: &str) -> Result<NodeConfig, LabError> {
        let chain_source = match self.config.access_of(name) {
            ChainAccess::BitcoindRpc => self.rpc_chain_source(),
            ChainAccess::Esplora => ChainSource::Esplora {
                url: self.devnet.esplora_url(),
            },
            ChainAccess::Electrum => ChainSource::Electrum {
                url: format!(
                    "tcp://{}",
                    self.devnet
                        .electrum_addr()
                        .expect("started when a node wants it")
                ),
            },
        };
        let dir = self.config.node_dir(name);
        // Keep a node's port across restarts so peers can reconnect to the address they know.
        let port_file = dir.join("listen");
        let listen = match std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            Some(addr) => addr,
            None => {
                let addr = free_local_addr()?;
                std::fs::create_dir_all(&dir)?;
                std::fs::write(&port_file, addr.to_string())?;
                addr
            }
        };
        let mut config = NodeConfig::new(name, dir, listen, chain_source);
        config.store = self.config.store;
        config.event_sink = self.config.event_sinks.get(name).cloned();
        config.seed = self.config.seeds.get(name).cloned();
        Ok(config)
    }

    async fn start_node(&mut self, name: &str) -> Result<Arc<LdkNode>, LabError> {
        let config = self.node_config(name)?;
        let node = Arc::new(LdkNode::start(config.clone()).await?);
        let dyn_node: Arc<dyn LightningNode> = node.clone();
        if self.nodes.contains_key(name) {
            self.pool.replace(dyn_node)?;
        } else {
            self.pool.add(dyn_node)?;
        }
        self.nodes
            .insert(name.to_string(), (Arc::clone(&node), config));
        Ok(node)
    }

    pub fn node(&self, name: &str) -> Result<Arc<LdkNode>, LabError> {
        self.nodes
            .get(name)
            .map(|(n, _)| Arc::clone(n))
            .ok_or_else(|| LabError::UnknownNode(name.to_string()))
    }

    fn running_nodes(&self) -> Vec<Arc<LdkNode>> {
        self.nodes.values().map(|(n, _)| Arc::clone(n)).collect()
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    pub fn peer_address(&self, name: &str) -> Result<PeerAddress, LabError> {
        let info = self.node(name)?.info();
        Ok(PeerAddress {
            node_id: info.node_id,
            address: info.listen,
        })
    }

    /// Stops a node cleanly and starts it again from its storage.
    pub async fn restart_node(&mut self, name: &str) -> Result<Arc<LdkNode>, LabError> {
        self.stop_node(name).await?;
        self.resume_node(name).await
    }

    /// Stops a node cleanly; [`Lab::resume_node`] starts it again.
    pub async fn stop_node(&self, name: &str) -> Result<(), LabError> {
        self.node(name)?.stop().await?;
        Ok(())
    }

    /// Starts a stopped node from its storage and waits until it has the chain's tip.
    pub async fn resume_node(&mut self, name: &str) -> Result<Arc<LdkNode>, LabError> {
        let node = self.start_node(name).await?;
        self.wait_synced().await?;
        Ok(node)
    }

    /// Connects every channel's two ends now, instead of waiting for ldk-node's periodic
    /// reconnection: on resume the nodes start one by one, so early ones found no peers.
    fn reconnect_peers(&self) -> Result<(), LabError> {
        for spec in &self.config.channels {
            let peer = self.peer_address(&spec.to)?;
            let node_id = peer
                .node_id
                .parse()
                .map_err(|_| NodeError::PeerUnreachable(peer.node_id.clone()))?;
            self.node(&spec.from)?
                .inner()
                .connect(node_id, peer.address.into(), true)
                .map_err(NodeError::from)?;
        }
        Ok(())
    }

    /// Mines `count` blocks and waits until every running node has processed them.
    pub async fn mine(&self, count: u32) -> Result<(), LabError> {
        let burn = self.devnet.faucet_address().script_pubkey();
        self.devnet.mine(count, &burn)?;
        self.wait_synced().await
    }

    /// Waits until every running node has processed the devnet's tip; nodes that poll their
    /// chain source are told to sync now rather than at their next background round.
    pub async fn wait_synced(&self) -> Result<(), LabError> {
        let height = self.devnet.height();
        self.sync_polling_nodes().await?;
        let nodes = self.running_nodes();
        wait_until("nodes synced to the devnet tip", DEFAULT_WAIT, || {
            nodes
                .iter()
                .map(|n| n.info())
                .all(|info| !info.running || info.best_block_height >= height)
        })
        .await?;
        Ok(())
    }

    /// Syncs the nodes on Esplora or Electrum now.
    pub async fn sync_polling_nodes(&self) -> Result<(), LabError> {
        for (name, (node, _)) in &self.nodes {
            if self.config.access_of(name) != ChainAccess::BitcoindRpc && node.info().running {
                node.sync_now().await?;
            }
        }
        Ok(())
    }

    async fn fund_nodes(&self) -> Result<(), LabError> {
        let count = self.nodes.len() as u32;
        // One reward per node plus one, matured, covers any funding up to 50 BTC each.
        self.devnet.mine_to_faucet(count + 1)?;
        self.mine(100).await?;
        let mut outputs = Vec::new();
        for (node, _) in self.nodes.values() {
            let address: devnet::bitcoin::Address<devnet::bitcoin::address::NetworkUnchecked> =
                node.new_onchain_address()
                    .await?
                    .parse()
                    .map_err(|_| NodeError::Backend("bad address".into()))?;
            let script = address.assume_checked().script_pubkey();
            // Several coins per node so concurrent channel opens never pick the same one.
            for _ in 0..4 {
                outputs.push((script.clone(), self.config.funding_per_node_sat / 4));
            }
        }
        self.devnet.fund(&outputs)?;
        self.mine(1).await?;
        let nodes = self.running_nodes();
        let want_sat = self.config.funding_per_node_sat;
        wait_until("nodes see their funding", DEFAULT_WAIT, || {
            nodes
                .iter()
                .all(|n| n.onchain_balance().total_sat >= want_sat)
        })
        .await?;
        Ok(())
    }

    /// Opens a channel, waits until its funding transaction is in the mempool, and mines it
    /// into a block: ldk-node's wallet only marks the funding coins spent once it syncs, so
    /// a second open before that would pick the same coins and be refused as a double spend.
    pub async fn open_channel(&self, spec: &ChannelSpec) -> Result<ChannelRef, LabError> {
        let from = self.node(&spec.from)?;
        let to = self.peer_address(&spec.to)?;
        let mut events = from.subscribe();
        let channel = from
            .open_channel(
                &to,
                spec.capacity_sat,
                spec.push_msat,
                self.config.announce_channels,
            )
            .await?;
        wait::next_matching(&mut events, DEFAULT_WAIT, |e| {
            matches!(e, NodeEvent::ChannelPending { counterparty, .. } if *counterparty == to.node_id)
        })
        .await?;
        let funding = from
            .channels()
            .into_iter()
            .find(|c| c.channel == channel)
            .and_then(|c| c.funding_txid);
        wait_until("funding transaction in the mempool", DEFAULT_WAIT, || {
            funding.as_deref().is_some_and(|txid| {
                self.devnet
                    .mempool_txids()
                    .iter()
                    .any(|t| t.to_string() == txid)
            })
        })
        .await?;
        self.mine(1).await?;
        Ok(channel)
    }

    /// Mines six blocks (LDK's default minimum depth and the announcement depth) and waits
    /// until every channel is usable and, if public, known to every node's graph.
    pub async fn confirm_channels(&self) -> Result<(), LabError> {
        self.mine(6).await?;
        self.wait_channels_usable().await
    }

    async fn wait_usable(&self) -> Result<(), LabError> {
        let nodes = self.running_nodes();
        wait_until("channels usable on both sides", DEFAULT_WAIT, || {
            nodes
                .iter()
                .all(|n| n.channels().iter().all(|c| c.is_usable))
        })
        .await?;
        Ok(())
    }

    /// Waits until every channel is usable and, if public, in every node's graph.
    pub async fn wait_channels_usable(&self) -> Result<(), LabError> {
        self.wait_usable().await?;
        let nodes = self.running_nodes();
        if self.config.announce_channels {
            let public = self.config.channels.len();
            wait_until(
                "public channels in every node's graph",
                DEFAULT_WAIT,
                || {
                    nodes
                        .iter()
                        .all(|n| n.inner().network_graph().list_channels().len() >= public)
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Stops every node and the devnet.
    pub async fn shutdown(&self) -> Result<(), LabError> {
        for (node, _) in self.nodes.values() {
            node.stop().await?;
        }
        Ok(())
    }
}

/// What the node's graph knows of each channel, for a test's failure message when a
/// route is not found: `scid 1>2:on|off|- 2>1:on|off|-` per channel (`-`: no update).
pub fn graph_view(node: &LdkNode) -> String {
    let graph = node.inner().network_graph();
    let side = |enabled: Option<bool>| match enabled {
        Some(true) => "on",
        Some(false) => "off",
        None => "-",
    };
    let mut view: Vec<String> = graph
        .list_channels()
        .into_iter()
        .filter_map(|scid| graph.channel(scid).map(|c| (scid, c)))
        .map(|(scid, c)| {
            format!(
                "{scid} 1>2:{} 2>1:{}",
                side(c.one_to_two.as_ref().map(|u| u.enabled)),
                side(c.two_to_one.as_ref().map(|u| u.enabled))
            )
        })
        .collect();
    view.sort();
    view.join("; ")
}

impl Drop for Lab {
    /// Stops the nodes while their storage still exists: a node's last writes happen as it
    /// stops, and whoever else holds it (a gateway's pool) may outlive the lab and its
    /// directory.
    fn drop(&mut self) {
        for (name, (node, _)) in &self.nodes {
            if let Err(e) = node.halt() {
                tracing::warn!(node = %name, error = %e, "lab: node did not stop cleanly");
            }
        }
    }
}
