//! The node pool as operators see it, and health.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use node_pool::NodeHealth;
use serde::Serialize;

use crate::ApiState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelView {
    pub channel_id: String,
    pub counterparty: String,
    pub capacity_sat: u64,
    pub outbound_msat: u64,
    pub inbound_msat: u64,
    pub usable: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NodeView {
    pub name: String,
    pub node_id: String,
    /// `healthy`, or `down` with the reason.
    pub state: String,
    pub down_reason: Option<String>,
    pub best_block_height: u32,
    /// The node's on-chain wallet, in sat.
    pub onchain_sat: u64,
    pub outbound_msat: u64,
    pub inbound_msat: u64,
    pub channels: Vec<ChannelView>,
}

/// The pool: each node's state, channels and liquidity.
#[utoipa::path(get, path = "/v1/nodes", responses((status = 200, body = Vec<NodeView>)))]
pub async fn list_nodes(State(state): State<ApiState>) -> Json<Vec<NodeView>> {
    let pool = state.gateway.pool();
    let mut views = Vec::new();
    for status in pool.status() {
        let Ok(node) = pool.get(&status.name) else {
            continue;
        };
        let info = node.info();
        let channels: Vec<ChannelView> = node
            .channels()
            .into_iter()
            .map(|c| ChannelView {
                channel_id: c.channel_id,
                counterparty: c.channel.counterparty,
                capacity_sat: c.capacity_sat,
                outbound_msat: c.outbound_msat,
                inbound_msat: c.inbound_msat,
                usable: c.is_usable,
            })
            .collect();
        views.push(NodeView {
            name: status.name,
            node_id: info.node_id,
            state: match &status.health {
                NodeHealth::Healthy => "healthy".to_string(),
                NodeHealth::Down { .. } => "down".to_string(),
            },
            down_reason: match &status.health {
                NodeHealth::Healthy => None,
                NodeHealth::Down { reason } => Some(reason.clone()),
            },
            best_block_height: info.best_block_height,
            onchain_sat: node.onchain_balance().total_sat,
            outbound_msat: channels.iter().map(|c| c.outbound_msat).sum(),
            inbound_msat: channels.iter().map(|c| c.inbound_msat).sum(),
            channels,
        });
    }
    Json(views)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChainView {
    /// Whether a chain source is configured to compare the nodes with.
    pub configured: bool,
    pub tip_height: Option<u32>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NodeReadinessView {
    pub healthy: bool,
    pub down_reason: Option<String>,
    pub best_block_height: u32,
    /// Blocks behind the chain's tip, when the tip is known.
    pub sync_lag_blocks: Option<u32>,
    /// Healthy and in sync.
    pub ready: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub store: bool,
    pub chain: ChainView,
    /// Node name → its readiness.
    pub nodes: std::collections::BTreeMap<String, NodeReadinessView>,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200)))]
pub async fn healthz() -> StatusCode {
    StatusCode::OK
}

/// Readiness: the store answers and enough nodes are healthy and in sync with the chain
/// (`min_ready_nodes`, `max_sync_lag_blocks`); 503 otherwise, with each component's state.
#[utoipa::path(get, path = "/readyz", responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<ApiState>) -> (StatusCode, Json<Readiness>) {
    let found = state.gateway.readiness().await;
    let status = if found.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let nodes = found
        .nodes
        .into_iter()
        .map(|n| {
            (
                n.name,
                NodeReadinessView {
                    healthy: n.healthy,
                    down_reason: n.down_reason,
                    best_block_height: n.best_block_height,
                    sync_lag_blocks: n.sync_lag_blocks,
                    ready: n.ready,
                },
            )
        })
        .collect();
    (
        status,
        Json(Readiness {
            ready: found.ready,
            store: found.store,
            chain: ChainView {
                configured: found.chain.configured,
                tip_height: found.chain.tip_height,
                error: found.chain.error,
            },
            nodes,
        }),
    )
}
