//! The API served over real HTTP against the real gateway and real nodes (alpha ours,
//! carol outside, one channel): what the HTTP tests start.

use std::sync::Arc;

use api::ApiState;
use gateway::{ApprovalSigner, Gateway, GatewayConfig, GatewaySink};
use kernel::{Clock, RandomIds, SystemClock};
use lightning_lab::{Lab, LabConfig};
use node_pool::{LightningNode, NodePool};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use webhooks::{DispatcherHandle, HttpTransport, WebhookConfig, Webhooks};

use crate::common;

pub struct Server {
    pub lab: Lab,
    pub base: String,
    /// A platform admin key.
    pub key: String,
    pub http: Client,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    dispatcher: DispatcherHandle,
    /// Last: fields drop in order, and the nodes must stop before their directory goes.
    pub _dir: tempfile::TempDir,
}

/// The API with `config`, `clock` and an approval `signer` for the gateway; returns the
/// gateway too.
pub async fn server_with(
    store: store::Store,
    config: GatewayConfig,
    clock: Arc<dyn Clock>,
    signer: Option<Arc<dyn ApprovalSigner>>,
) -> (Server, Gateway) {
    let gateway_config = config;
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = GatewaySink::new();
    let lab = Lab::start(
        LabConfig::new(dir.path().to_path_buf(), &["alpha", "carol"])
            .balanced_channel("alpha", "carol", 2_000_000)
            .event_sink("alpha", sink.clone()),
    )
    .await
    .expect("lab");
    let pool = Arc::new(NodePool::new());
    let alpha: Arc<dyn LightningNode> = lab.node("alpha").expect("alpha");
    pool.add(alpha).expect("add");
    let config = WebhookConfig {
        allow_http: true,
        // The test's receiver listens on loopback.
        allowed_private_networks: vec!["127.0.0.0/8".parse().expect("net")],
        poll_interval_ms: 20,
        ..WebhookConfig::default()
    };
    let transport = HttpTransport::new(&config).expect("transport");
    let vault = vault::testing::software_vault(&store).await.expect("vault");
    let webhooks = Webhooks::new(
        store.clone(),
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        config,
        vault,
    );
    let dispatcher = webhooks.spawn_dispatcher(Arc::new(transport));
    let store_for_auth = store.clone();
    let mut builder =
        Gateway::builder(store, clock, Arc::new(RandomIds), gateway_config).event_sink(sink);
    if let Some(signer) = signer {
        builder = builder.approval_signer(signer);
    }
    let gateway = builder.build(pool);
    gateway.start().await.expect("start");
    let returned = gateway.clone();
    let (auth, key) =
        common::admin_auth(&store_for_auth, &api::RateLimitConfig::default(), None).await;
    let app = api::router(ApiState {
        gateway,
        webhooks,
        auth,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(api::serve(listener, app, async {
        let _ = stopped.await;
    }));
    let server = Server {
        _dir: dir,
        lab,
        base,
        key,
        http: Client::new(),
        stop,
        serving,
        dispatcher,
    };
    (server, returned)
}

impl Server {
    /// Stops the server so the gateway and nodes it holds are dropped on a live runtime.
    pub async fn shut_down(self) {
        let _ = self.stop.send(());
        self.serving.await.expect("join").expect("served");
        self.dispatcher.stop().await;
    }
}

impl Server {
    /// A call with the admin key.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(&self.key, method, path, body).await
    }

    /// A call with `key`.
    pub async fn call_as(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(
                method.parse().expect("method"),
                format!("{}{path}", self.base),
            )
            .bearer_auth(key);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request");
        read(response).await
    }
}

pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let problem = response.headers().get("content-type").is_some_and(|v| {
        v.to_str()
            .unwrap_or("")
            .starts_with("application/problem+json")
    });
    let bytes = response.bytes().await.expect("body");
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_client_error() || status.is_server_error() {
        assert!(problem, "error {status} must be problem+json: {value}");
    }
    (status, value)
}
