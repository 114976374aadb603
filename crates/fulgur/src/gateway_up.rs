//! Bringing the gateway up, the same way for `demo` and `serve`: the store opened and
//! migrated, the gateway started over the pool (books prepared, interrupted work resumed),
//! node events attached, the HTTP API listening, invoices expiring and webhooks being
//! delivered in the background.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gateway::{Gateway, GatewayConfig, GatewaySink, RandomIds, SystemClock};
use node_pool::NodePool;
use store::{Store, StoreConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use webhooks::{DispatcherHandle, HttpTransport, WebhookConfig, Webhooks};

/// How often open invoices past their expiry are closed.
const EXPIRY_SWEEP: Duration = Duration::from_secs(5);

pub struct Running {
    pub gateway: Gateway,
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<std::io::Result<()>>,
    sweeper: JoinHandle<()>,
    dispatcher: DispatcherHandle,
}

impl Running {
    /// Stops taking requests (in-flight ones finish) and background work.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.sweeper.abort();
        let _ = self.stop.send(());
        self.serving.await.context("API task")??;
        self.dispatcher.stop().await;
        Ok(())
    }
}

pub async fn open_store(url: &str) -> anyhow::Result<Store> {
    let store = Store::open(&StoreConfig::new(url))
        .await
        .with_context(|| format!("store {url}"))?;
    let applied = store.migrate(now_ms()).await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    Ok(store)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The administrator key in `path`, created (256 random bits, mode 0600) if absent.
pub fn admin_key(path: &Path) -> anyhow::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let key = existing.trim().to_string();
        anyhow::ensure!(key.len() >= 32, "{} holds no usable key", path.display());
        return Ok(key);
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("randomness: {e}"))?;
    let key: String = std::iter::once("fgk_".to_string())
        .chain(secret.iter().map(|b| format!("{b:02x}")))
        .collect();
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("create {}", path.display()))?
    };
    writeln!(file, "{key}")?;
    file.sync_all()?;
    Ok(key)
}

/// Starts the gateway over `pool` and serves the API (plus `extra` routes, behind the
/// same credential) on `listen`.
pub async fn start(
    store: Store,
    pool: Arc<NodePool>,
    sink: &GatewaySink,
    listen: SocketAddr,
    admin_key: &str,
    webhook_config: WebhookConfig,
    extra: Option<axum::Router>,
) -> anyhow::Result<Running> {
    let (clock, ids) = (Arc::new(SystemClock), Arc::new(RandomIds));
    let webhooks = Webhooks::new(store.clone(), clock.clone(), ids.clone(), webhook_config);
    let transport = HttpTransport::new(webhooks.config())
        .map_err(|e| anyhow::anyhow!("webhook HTTP client: {e}"))?;
    let gateway = Gateway::new(store, pool, clock, ids, GatewayConfig::default());
    gateway.start().await.context("gateway start")?;
    sink.attach(&gateway);
    let key = api::AdminKey::new(admin_key);
    let mut app = api::router(
        api::ApiState {
            gateway: gateway.clone(),
            webhooks: webhooks.clone(),
        },
        key.clone(),
    );
    if let Some(extra) = extra {
        app = app.merge(api::authenticated(extra, key));
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(api::serve(listener, app, async {
        let _ = stopped.await;
    }));
    let sweeping = gateway.clone();
    let sweeper = tokio::spawn(async move {
        loop {
            tokio::time::sleep(EXPIRY_SWEEP).await;
            if let Err(error) = sweeping.expire_invoices().await {
                tracing::warn!(%error, "invoice expiry sweep failed");
            }
        }
    });
    let dispatcher = webhooks.spawn_dispatcher(Arc::new(transport));
    Ok(Running {
        gateway,
        addr,
        stop,
        serving,
        sweeper,
        dispatcher,
    })
}
