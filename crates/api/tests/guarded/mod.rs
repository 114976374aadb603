//! The API over a gateway whose pool has no node (access control needs no Lightning),
//! with a platform admin key: shared by the access test binaries, each using a part.
#![allow(dead_code)]

use std::sync::Arc;

use api::{ApiState, RateLimitConfig, TlsConfig, TlsListener};
use gateway::{Gateway, GatewayConfig, RandomIds, SystemClock};
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
}

/// The API over a gateway whose pool has no node: access control needs no Lightning.
pub async fn server(store: store::Store, limits: RateLimitConfig) -> Server {
    server_with(store, limits, None).await
}

/// The same, also accepting tokens of `oidc`'s issuers.
pub async fn server_with(
    store: store::Store,
    limits: RateLimitConfig,
    oidc: Option<Arc<OidcVerifier>>,
) -> Server {
    let (app, admin) = app(&store, &limits, oidc).await;
    let crate::common::Serving {
        base,
        stop,
        serving,
    } = crate::common::serve(app).await;
    Server {
        base,
        admin,
        http: Client::new(),
        store,
        stop,
        serving,
    }
}

/// The same over TLS on 127.0.0.1 (reached as `https://localhost:PORT`), called with
/// `http`, a client configured by the test (roots, client certificate).
pub async fn tls_server(store: store::Store, tls: TlsConfig, http: Client) -> Server {
    let (app, admin) = app(&store, &RateLimitConfig::default(), None).await;
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
    }
}

async fn app(
    store: &store::Store,
    limits: &RateLimitConfig,
    oidc: Option<Arc<OidcVerifier>>,
) -> (axum::Router, String) {
    let ids = Arc::new(RandomIds);
    let webhooks = Webhooks::new(
        store.clone(),
        Arc::new(SystemClock),
        ids.clone(),
        WebhookConfig::default(),
    );
    let gateway = Gateway::new(
        store.clone(),
        Arc::new(NodePool::new()),
        Arc::new(SystemClock),
        ids,
        GatewayConfig::default(),
    );
    gateway.start().await.expect("start");
    let (auth, admin) = crate::common::admin_auth(store, limits, oidc).await;
    let app = api::router(ApiState {
        gateway,
        webhooks,
        auth,
    });
    (app, admin)
}

impl Server {
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
