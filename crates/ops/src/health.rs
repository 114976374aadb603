//! Readiness (store, chain, each node) and the gauges read at scrape time (node state,
//! sync, liquidity per channel, store connections). Gauges are computed when asked, so a
//! closed channel or a removed node leaves no stale series behind.

use std::sync::Arc;

use async_trait::async_trait;
use kernel::{Clock, GaugeSample};
use node_pool::{ChainTip, NodeError, NodeHealth, NodePool};
use store::Store;

/// How long one reading of the chain's tip is reused: readiness probes and scrapes, however
/// many, ask the chain source at most once per this many milliseconds (of the injected
/// clock).
pub const CHAIN_TIP_TTL_MS: i64 = 1_000;

/// When Fulgur is ready. Defaults: one node healthy and in sync, at most 6 blocks behind
/// the chain's tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// Nodes that must be healthy and in sync for `/readyz` to answer 200 (at least 1).
    pub min_ready_nodes: usize,
    /// Blocks a node may trail the chain's tip and still count as in sync.
    pub max_sync_lag_blocks: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            min_ready_nodes: 1,
            max_sync_lag_blocks: 6,
        }
    }
}

/// The chain as the chain source reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReadiness {
    /// Whether a chain source is configured to compare the nodes with.
    pub configured: bool,
    pub tip_height: Option<u32>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReadiness {
    pub name: String,
    pub healthy: bool,
    pub down_reason: Option<String>,
    pub best_block_height: u32,
    /// Blocks behind the chain's tip; `None` when the tip is unknown.
    pub sync_lag_blocks: Option<u32>,
    /// Healthy and at most `max_sync_lag_blocks` behind (or no chain source to ask).
    pub ready: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub store: bool,
    pub chain: ChainReadiness,
    pub nodes: Vec<NodeReadiness>,
}

/// Readiness and the gauges of the moment, over the store, the node pool and (when given)
/// the chain's tip.
pub struct Health {
    store: Store,
    pool: Arc<NodePool>,
    /// Read through [`CachedTip`]; `None`: nodes are not checked for sync.
    chain_tip: Option<Arc<dyn ChainTip>>,
    config: HealthConfig,
}

impl Health {
    /// `chain_tip`'s readings are reused for [`CHAIN_TIP_TTL_MS`] of `clock`: an
    /// unauthenticated flood of `/readyz` must not become a flood on the chain source.
    pub fn new(
        store: Store,
        pool: Arc<NodePool>,
        chain_tip: Option<Arc<dyn ChainTip>>,
        clock: Arc<dyn Clock>,
        config: HealthConfig,
    ) -> Self {
        let chain_tip = chain_tip.map(|source| {
            Arc::new(CachedTip {
                source,
                clock,
                last: tokio::sync::Mutex::new(None),
            }) as Arc<dyn ChainTip>
        });
        Self {
            store,
            pool,
            chain_tip,
            config,
        }
    }

    async fn chain(&self) -> ChainReadiness {
        let Some(tip) = &self.chain_tip else {
            return ChainReadiness {
                configured: false,
                tip_height: None,
                error: None,
            };
        };
        match tip.tip_height().await {
            Ok(height) => ChainReadiness {
                configured: true,
                tip_height: Some(height),
                error: None,
            },
            Err(e) => ChainReadiness {
                configured: true,
                tip_height: None,
                error: Some(e.to_string()),
            },
        }
    }

    /// Ready when the store answers and at least `min_ready_nodes` nodes are healthy and
    /// within `max_sync_lag_blocks` of the chain's tip.
    pub async fn readiness(&self) -> Readiness {
        let store = self
            .store
            .read_one(|sql| sql.query_one("SELECT 1", &[]).map(|_| ()))
            .await
            .is_ok();
        let chain = self.chain().await;
        let max_lag = self.config.max_sync_lag_blocks;
        let nodes: Vec<NodeReadiness> = self
            .pool
            .status()
            .into_iter()
            .filter_map(|status| {
                let node = self.pool.get(&status.name).ok()?;
                let height = node.info().best_block_height;
                let lag = chain.tip_height.map(|tip| tip.saturating_sub(height));
                let synced = match (chain.configured, lag) {
                    (false, _) => true,
                    (true, Some(lag)) => lag <= max_lag,
                    (true, None) => false,
                };
                let (healthy, down_reason) = match status.health {
                    NodeHealth::Healthy => (true, None),
                    NodeHealth::Down { reason } => (false, Some(reason)),
                };
                Some(NodeReadiness {
                    name: status.name,
                    healthy,
                    down_reason,
                    best_block_height: height,
                    sync_lag_blocks: lag,
                    ready: healthy && synced,
                })
            })
            .collect();
        let ready_nodes = nodes.iter().filter(|n| n.ready).count();
        Readiness {
            ready: store && ready_nodes >= self.config.min_ready_nodes.max(1),
            store,
            chain,
            nodes,
        }
    }

    /// The gauges of the moment: nodes (up, height, lag, liquidity), each channel's
    /// liquidity, the chain's tip and the store's connections.
    pub async fn gauges(&self) -> Vec<GaugeSample> {
        let readiness = self.readiness().await;
        let mut out = Vec::new();
        if let Some(tip) = readiness.chain.tip_height {
            out.push(GaugeSample::new(
                "fulgur_chain_tip_height",
                "Height of the chain's best block, from the nodes' chain source.",
                f64::from(tip),
            ));
        }
        for node in &readiness.nodes {
            out.extend(node_gauges(&self.pool, node));
        }
        out.extend(store_gauges(self.store.usage()));
        out
    }
}

/// The chain's tip, read from `source` at most once per [`CHAIN_TIP_TTL_MS`]. The lock is
/// held across a read, so callers that arrive meanwhile wait for that one reading rather
/// than each asking (errors are reused too: a failing source is not hammered either).
struct CachedTip {
    source: Arc<dyn ChainTip>,
    clock: Arc<dyn Clock>,
    /// When the last reading was taken, and what it was.
    last: tokio::sync::Mutex<Option<(i64, Result<u32, NodeError>)>>,
}

#[async_trait]
impl ChainTip for CachedTip {
    async fn tip_height(&self) -> Result<u32, NodeError> {
        let mut last = self.last.lock().await;
        let now_ms = self.clock.now_ms();
        if let Some((_, reading)) = last
            .as_ref()
            .filter(|(at_ms, _)| (0..CHAIN_TIP_TTL_MS).contains(&(now_ms - at_ms)))
        {
            return reading.clone();
        }
        let reading = self.source.tip_height().await;
        *last = Some((self.clock.now_ms(), reading.clone()));
        reading
    }
}

fn store_gauges(usage: store::PoolUsage) -> Vec<GaugeSample> {
    let mut out = Vec::new();
    for (role, threads, busy, queued) in [
        (
            "reader",
            usage.readers,
            usage.readers_busy,
            usage.reads_queued,
        ),
        (
            "writer",
            usage.writers,
            usage.writers_busy,
            usage.writes_queued,
        ),
    ] {
        out.push(
            GaugeSample::new(
                "fulgur_store_connections",
                "Store connections (one per worker thread).",
                threads as f64,
            )
            .label("role", role),
        );
        out.push(
            GaugeSample::new(
                "fulgur_store_connections_busy",
                "Store connections running a job now.",
                busy as f64,
            )
            .label("role", role),
        );
        out.push(
            GaugeSample::new(
                "fulgur_store_jobs_queued",
                "Store jobs waiting for a connection.",
                queued as f64,
            )
            .label("role", role),
        );
    }
    out
}

fn node_gauges(pool: &NodePool, node: &NodeReadiness) -> Vec<GaugeSample> {
    let name = node.name.as_str();
    let mut out = vec![
        GaugeSample::new(
            "fulgur_node_up",
            "1 when the node is running and in rotation.",
            if node.healthy { 1.0 } else { 0.0 },
        )
        .label("node", name),
        GaugeSample::new(
            "fulgur_node_block_height",
            "Height of the best block the node has processed.",
            f64::from(node.best_block_height),
        )
        .label("node", name),
    ];
    if let Some(lag) = node.sync_lag_blocks {
        out.push(
            GaugeSample::new(
                "fulgur_node_sync_lag_blocks",
                "Blocks between the chain's tip and the node's best block.",
                f64::from(lag),
            )
            .label("node", name),
        );
    }
    let Ok(handle) = pool.get(name) else {
        return out;
    };
    let channels = handle.channels();
    let (outbound, inbound) = channels.iter().fold((0u64, 0u64), |(o, i), c| {
        (
            o.saturating_add(c.outbound_msat),
            i.saturating_add(c.inbound_msat),
        )
    });
    out.push(
        GaugeSample::new(
            "fulgur_node_outbound_liquidity_msat",
            "What the node can send over its channels, in msat.",
            outbound as f64,
        )
        .label("node", name),
    );
    out.push(
        GaugeSample::new(
            "fulgur_node_inbound_liquidity_msat",
            "What the node can receive over its channels, in msat.",
            inbound as f64,
        )
        .label("node", name),
    );
    out.push(
        GaugeSample::new(
            "fulgur_node_onchain_fees_paid_sat",
            "On-chain fees the node's wallet has paid (funding, sweeps, bumps) since it was created, in sat.",
            handle.onchain_fees_paid_sat() as f64,
        )
        .label("node", name),
    );
    out.push(
        GaugeSample::new(
            "fulgur_node_onchain_balance_sat",
            "The node's on-chain wallet, in sat.",
            handle.onchain_balance().total_sat as f64,
        )
        .label("node", name),
    );
    for channel in channels {
        let labelled = |sample: GaugeSample| {
            sample
                .label("node", name)
                .label("channel_id", channel.channel_id.clone())
                .label("counterparty", channel.channel.counterparty.clone())
        };
        out.push(labelled(GaugeSample::new(
            "fulgur_channel_outbound_liquidity_msat",
            "What the channel can send now, in msat.",
            channel.outbound_msat as f64,
        )));
        out.push(labelled(GaugeSample::new(
            "fulgur_channel_inbound_liquidity_msat",
            "What the channel can receive now, in msat.",
            channel.inbound_msat as f64,
        )));
        out.push(labelled(GaugeSample::new(
            "fulgur_channel_capacity_sat",
            "The channel's capacity, in sat.",
            channel.capacity_sat as f64,
        )));
        out.push(labelled(GaugeSample::new(
            "fulgur_channel_usable",
            "1 when the channel can carry payments now.",
            if channel.is_usable { 1.0 } else { 0.0 },
        )));
    }
    out
}
