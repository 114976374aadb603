//! The node pool as operators see it, and health.

use access::{ApiScope, Audience};
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use node_pool::NodeHealth;
use serde::Serialize;

use crate::auth::Requirement;
use crate::problem::Problem;
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

/// What `/readyz` answers: the verdict to anyone; each component's state too when the
/// request carries a platform credential with `nodes:read` (what a probe needs is public,
/// which nodes exist and how far behind they are is not).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// Whether the store answers (detail only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<bool>,
    /// The chain source's tip (detail only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainView>,
    /// Node name → its readiness (detail only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<std::collections::BTreeMap<String, NodeReadinessView>>,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", security(()), responses((status = 200, description = "alive")))]
pub async fn healthz() -> StatusCode {
    StatusCode::OK
}

/// What the guard demands before `/readyz` shows detail: a platform credential that may
/// read the nodes (nothing audited on success, as for any read).
const DETAIL: Requirement = Requirement {
    scope: ApiScope::NodesRead,
    audience: Audience::Platform,
    action: None,
    audit_success: false,
};

/// Readiness: the store answers and enough nodes are healthy and in sync with the chain
/// (`min_ready_nodes`, `max_sync_lag_blocks`); 503 otherwise. Anyone gets the verdict. A
/// request with a bearer credential asks for each component's state: it passes the same
/// guard as `/v1/nodes` (scope `nodes:read`, platform credentials) or is refused by it.
/// A client certificate alone does not ask: with mTLS every probe carries one.
#[utoipa::path(get, path = "/readyz",
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = Readiness, description = "ready (with a credential: and why)"),
        (status = 503, description = "not ready (`Readiness`), or the credential cannot be \
            checked now (a problem)", content(
            (Readiness = "application/json"),
            (Problem = "application/problem+json"),
        )),
        (status = 401, body = Problem, description = "`unauthenticated`: a credential was \
            presented and is not valid"),
        (status = 403, body = Problem, description = "`forbidden` (no `nodes:read`) or \
            `platform_only`"),
        (status = 429, body = Problem, description = "`rate_limited` or \
            `too_many_auth_failures`"),
    ))]
pub async fn readyz(State(state): State<ApiState>, req: Request) -> Response {
    if !asks_detail(req.headers()) {
        let ready = state.gateway.health().readiness().await.ready;
        let verdict = Readiness {
            ready,
            store: None,
            chain: None,
            nodes: None,
        };
        return (status_of(ready), Json(verdict)).into_response();
    }
    let guarded = readiness_detail.layer(axum::middleware::from_fn_with_state(
        (state.auth.clone(), DETAIL),
        crate::auth::guard,
    ));
    Handler::call(guarded, req, state).await
}

/// A bearer credential (any other `Authorization`, such as a load balancer's basic auth,
/// asks for nothing).
fn asks_detail(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
}

fn status_of(ready: bool) -> StatusCode {
    if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// Readiness with each component's state, behind the guard.
async fn readiness_detail(State(state): State<ApiState>) -> Response {
    let found = state.gateway.health().readiness().await;
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
    let detail = Readiness {
        ready: found.ready,
        store: Some(found.store),
        chain: Some(ChainView {
            configured: found.chain.configured,
            tip_height: found.chain.tip_height,
            error: found.chain.error,
        }),
        nodes: Some(nodes),
    };
    (status_of(found.ready), Json(detail)).into_response()
}
