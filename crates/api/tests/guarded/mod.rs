//! The API over a gateway whose pool has one scriptable fake node, `alpha` (access control
//! needs no Lightning),
//! with a platform admin key, served over real HTTPS: shared by the access test binaries,
//! each using a part.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use api::{ApiState, RateLimitConfig, TlsConfig, TlsListener};
use gateway::{Gateway, GatewayConfig};
use kernel::{RandomIds, SystemClock};
use metrics_exporter_prometheus::PrometheusHandle;
use node_pool::NodePool;
use oidc::OidcVerifier;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use webhooks::{WebhookConfig, Webhooks};

pub struct Server {
    pub base: String,
    pub admin: String,
    pub http: Client,
    pub store: store::Store,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub serving: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The CA directory of a server started with its own certificates.
    pki: Option<tempfile::TempDir>,
}

/// The API over a gateway whose pool has one fake node, over HTTPS with a certificate of a CA made for it.
pub async fn server(store: store::Store, limits: RateLimitConfig) -> Server {
    server_with(store, limits, None).await
}

/// The same, also accepting tokens of `oidc`'s issuers.
pub async fn server_with(
    store: store::Store,
    limits: RateLimitConfig,
    oidc: Option<Arc<OidcVerifier>>,
) -> Server {
    let dir = tempfile::tempdir().expect("dir");
    let pki = pki::Pki::new(dir.path());
    let now = chrono::Utc::now().timestamp();
    pki.init(now, 30).expect("CA");
    let localhost = pki::Profile::Server {
        dns: vec!["localhost".into()],
        ips: vec![],
    };
    pki.issue("api", &localhost, now, 30)
        .expect("server certificate");
    let tls = TlsConfig {
        cert_file: pki.cert_path("api"),
        key_file: pki.key_path("api"),
        client_ca_file: None,
        client_crl_file: None,
        client_auth: api::ClientAuth::Off,
        reload_interval: std::time::Duration::from_secs(3600),
    };
    let root = std::fs::read(pki.ca_cert_path()).expect("CA file");
    let http = Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&root).expect("CA"))
        .build()
        .expect("client");
    let (app, admin) = app(&store, &limits, oidc).await;
    let mut server = serve_tls(store, app, admin, tls, http).await;
    server.pki = Some(dir);
    server
}

/// The API over TLS with the test's own certificates, called with `http`, a client the
/// test configured (roots, client certificate).
pub async fn tls_server(store: store::Store, tls: TlsConfig, http: Client) -> Server {
    let (app, admin) = app(&store, &RateLimitConfig::default(), None).await;
    serve_tls(store, app, admin, tls, http).await
}

/// Serves on 127.0.0.1, reached as `https://localhost:PORT`.
async fn serve_tls(
    store: store::Store,
    app: axum::Router,
    admin: String,
    tls: TlsConfig,
    http: Client,
) -> Server {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!(
        "https://localhost:{}",
        tcp.local_addr().expect("addr").port()
    );
    let listener = TlsListener::start(tcp, tls).expect("TLS listener");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(api::serve_on(listener, app, async {
        let _ = stopped.await;
    }));
    Server {
        base,
        admin,
        http,
        store,
        stop,
        serving,
        pki: None,
    }
}

/// The test process's Prometheus recorder (one per process).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| api::install_recorder().expect("recorder"))
        .clone()
}

async fn app(
    store: &store::Store,
    limits: &RateLimitConfig,
    oidc: Option<Arc<OidcVerifier>>,
) -> (axum::Router, String) {
    let ids = Arc::new(RandomIds);
    let vault = vault::testing::software_vault(store).await.expect("vault");
    let webhooks = Webhooks::new(
        store.clone(),
        Arc::new(SystemClock),
        ids.clone(),
        WebhookConfig::default(),
        vault,
    );
    // One scriptable node, so that node-scoped routes (recoveries) see a real name.
    let pool = Arc::new(NodePool::new());
    pool.add(Arc::new(testkit::FakeNode::new("alpha", 1)))
        .expect("node");
    let gateway = Gateway::builder(
        store.clone(),
        Arc::new(SystemClock),
        ids,
        GatewayConfig {
            // Servers over one store in a test (replicas, in the quota test) are one
            // installation to the node registry: access control is what they test.
            instance_id: Some("guarded-test".into()),
            ..GatewayConfig::default()
        },
    )
    .build(pool);
    gateway.start().await.expect("start");
    let (auth, admin) = crate::common::admin_auth(store, limits, oidc).await;
    let state = ApiState {
        gateway,
        webhooks,
        auth,
    };
    let metrics = api::metrics_router(metrics_handle(), state.clone());
    let app = api::router(state).merge(metrics);
    (app, admin)
}

impl Server {
    /// The CA certificate clients of a server with its own certificates trust.
    pub fn ca_file(&self) -> Option<std::path::PathBuf> {
        self.pki.as_ref().map(|dir| dir.path().join("ca.crt"))
    }

    pub async fn shut_down(self) {
        let _ = self.stop.send(());
        self.serving.await.expect("join").expect("served");
    }

    pub async fn send(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
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
        request.send().await.expect("request")
    }

    pub async fn call(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let response = self.send(key, method, path, body).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn tenant(&self, id: &str) {
        let body = json!({"id": id, "name": id});
        let (status, answer) = self
            .call(&self.admin, "POST", "/v1/tenants", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }

    pub async fn issue(&self, body: Value) -> (String, String) {
        let (status, issued) = self
            .call(&self.admin, "POST", "/v1/apikeys", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{issued}");
        (
            issued["id"].as_str().expect("id").to_string(),
            issued["key"].as_str().expect("key").to_string(),
        )
    }
}
