//! Bringing the gateway up, the same way for `demo` and `serve`: the store opened and
//! migrated, the gateway started over the pool (books prepared, interrupted work resumed),
//! node events attached, the HTTP API listening, invoices expiring and webhooks being
//! delivered in the background.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use access::{ApiKeys, NewApiKey};
use anyhow::Context;
use audit::CheckpointSigner;
use gateway::{Gateway, GatewayConfig, GatewaySink, ProbeConfig};
use kernel::{Actor, RandomIds, SystemClock};
use metrics_exporter_prometheus::PrometheusHandle;
use node_pool::{ChainSource, ChainSourceTip, NodePool};
use store::{Store, StoreConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use webhooks::{DispatcherHandle, HttpTransport, WebhookConfig, Webhooks};

/// How often the audit chain's head is signed (when it moved).
const AUDIT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

pub struct Running {
    pub gateway: Gateway,
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<std::io::Result<()>>,
    /// Expiry sweeps, reconciliation, leases, SLI flushes, probes: stopped first.
    jobs: jobs::Scheduler,
    dispatcher: DispatcherHandle,
    checkpointer: Checkpointer,
    auth: api::Auth,
    /// The ids of [`AccessSetup::approver_keys`], in order.
    pub approver_credentials: Vec<String>,
}

impl Running {
    /// Stops taking requests (in-flight ones finish) and background work.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.jobs.stop().await;
        let _ = self.stop.send(());
        self.serving.await.context("API task")??;
        if let Err(error) = self.gateway.sli().flush().await {
            tracing::warn!(%error, "SLI counts not written at shutdown");
        }
        if let Err(error) = self.auth.flush_usage().await {
            tracing::warn!(%error, "API usage counts not written at shutdown");
        }
        self.dispatcher.stop().await;
        if let Err(error) = self.gateway.release_node_leases().await {
            tracing::warn!(%error, "node leases not released; they expire on their own");
        }
        self.checkpointer.stop().await?;
        Ok(())
    }
}

/// This installation's instance id in node leases: the host and the directory that holds
/// the nodes' state. A restart of the same installation (after a crash too) takes its
/// nodes back at once; another replica (another host or directory) is refused while the
/// lease runs.
pub fn instance_id(node_dir: &std::path::Path) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string());
    let dir = node_dir
        .canonicalize()
        .unwrap_or_else(|_| node_dir.to_path_buf());
    format!("{host}:{}", dir.display())
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

/// What access control starts from: the bootstrap administrator key file (written once,
/// mode 0600), an old pepper file to adopt, the trusted token issuers, TLS and limits.
#[derive(Debug, Clone)]
pub struct AccessSetup {
    pub admin_key: PathBuf,
    /// A second administrator's key, also created at bootstrap (out of band, so it is a
    /// person of its own to the rules that need two administrators); the demo's.
    pub second_admin_key: Option<PathBuf>,
    /// A compliance officer's platform key, created at bootstrap; the demo's.
    pub compliance_key: Option<PathBuf>,
    /// Approvers' platform keys (name, file), created at bootstrap, each a person of its
    /// own: the demo's executives and custodian.
    pub approver_keys: Vec<(String, PathBuf)>,
    /// A pepper file from before the vault, adopted into it (then removed) if present.
    pub legacy_pepper: Option<PathBuf>,
    pub oidc_issuers: Vec<oidc::IssuerConfig>,
    /// TLS on the listener; `None`: plain HTTP.
    pub tls: Option<api::TlsConfig>,
    /// Rate limits and per-tenant daily quotas.
    pub limits: api::RateLimitConfig,
    /// Proxies whose forwarding header names the client (default none), and which header
    /// they write.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub trusted_proxy_header: api::ForwardedHeader,
}

impl AccessSetup {
    /// The files' usual names in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            admin_key: dir.join("admin.key"),
            second_admin_key: Some(dir.join("admin2.key")),
            compliance_key: Some(dir.join("compliance.key")),
            approver_keys: Vec::new(),
            legacy_pepper: Some(dir.join("api-key.pepper")),
            oidc_issuers: Vec::new(),
            tls: None,
            limits: api::RateLimitConfig::default(),
            trusted_proxies: Vec::new(),
            trusted_proxy_header: api::ForwardedHeader::default(),
        }
    }
}

/// The platform key of `role` in `path`, checked against the store; when the file does
/// not exist, a platform key of that role is issued and written there (mode 0600).
/// Returns the key's id (the credential an approval policy names).
async fn bootstrap_key(
    keys: &ApiKeys,
    path: &Path,
    name: &str,
    role: access::Role,
) -> anyhow::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let accepted = keys
            .authenticate(existing.trim(), None)
            .await?
            .ok()
            .filter(|p| role.scopes().iter().all(|scope| p.allows(*scope)));
        let Some(principal) = accepted else {
            anyhow::bail!(
                "{} holds no {} key this store accepts (revoked, expired, or from another \
                 store); remove the file to issue a new one",
                path.display(),
                role.as_str()
            );
        };
        return Ok(principal.credential_id);
    }
    // A missing file must not mint another administrator (another person, to the rules
    // that need two) while the one it held is still active.
    let now = now_ms();
    let mut after = None;
    loop {
        let page = keys.list(&kernel::Scope::All, after.clone(), 500).await?;
        if let Some(active) = page.iter().find(|k| {
            k.name == name && k.tenant_id.is_none() && k.created_by == "system" && k.is_active(now)
        }) {
            return Err(crate::BadInput(format!(
                "{} is missing, but the store still has the active key {:?} it held ({}): \
                 restore the file, or revoke that key (`fulgur apikey revoke`) to issue a new one",
                path.display(),
                name,
                active.id
            ))
            .into());
        }
        match page.last() {
            Some(last) if page.len() == 500 => after = Some(last.id.clone()),
            _ => break,
        }
    }
    let (info, secret) = keys
        .create(
            &Actor::system("bootstrap"),
            NewApiKey {
                tenant_id: None,
                name: name.to_string(),
                roles: vec![role],
                scopes: vec![],
                ip_allowlist: vec![],
                expires_at_ms: None,
                rate_tier: "standard".to_string(),
            },
        )
        .await?;
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("create {}", path.display()))?
    };
    writeln!(file, "{}", secret.expose())?;
    file.sync_all()?;
    tracing::info!(key = %info.id, file = %path.display(), role = role.as_str(), "bootstrap key issued");
    Ok(info.id)
}

/// The verifier of the configured issuers' tokens (none configured: none). An issuer
/// unreachable at start is a warning, not a failure: its tokens are checked once it answers.
async fn oidc_verifier(
    issuers: &[oidc::IssuerConfig],
) -> anyhow::Result<Option<Arc<oidc::OidcVerifier>>> {
    if issuers.is_empty() {
        return Ok(None);
    }
    let source = oidc::HttpKeySource::new().map_err(|e| anyhow::anyhow!("OIDC client: {e}"))?;
    let verifier = oidc::OidcVerifier::new(issuers.to_vec(), Arc::new(source))?;
    if let Err(error) = verifier.warm(now_ms()).await {
        tracing::warn!(%error, "OIDC issuer keys not fetched at start");
    }
    Ok(Some(Arc::new(verifier)))
}

/// The process's Prometheus recorder, installed on first use.
fn metrics_handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = api::install_recorder().map_err(|e| anyhow::anyhow!("metrics recorder: {e}"))?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Signs the audit chain's head now and then, and once more on the way out.
struct Checkpointer {
    task: JoinHandle<()>,
    store: Store,
    signer: Arc<dyn CheckpointSigner>,
}

impl Checkpointer {
    fn spawn(store: Store, signer: Arc<dyn CheckpointSigner>) -> Self {
        let (every, by) = (store.clone(), Arc::clone(&signer));
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(AUDIT_CHECKPOINT_INTERVAL).await;
                if let Err(error) = audit::checkpoint(&every, Arc::clone(&by), now_ms()).await {
                    tracing::warn!(%error, "audit checkpoint failed");
                }
            }
        });
        Self {
            task,
            store,
            signer,
        }
    }

    async fn stop(self) -> Result<(), audit::AuditError> {
        self.task.abort();
        audit::checkpoint(&self.store, self.signer, now_ms()).await?;
        Ok(())
    }
}

/// How the gateway's services are set up, beyond access.
pub struct Services {
    pub gateway: GatewayConfig,
    pub webhooks: WebhookConfig,
    /// The nodes' chain source, which readiness and the sync gauges compare them with.
    pub chain: Option<ChainSource>,
    /// Synthetic probes between the pool's nodes; `None`: off.
    pub probes: Option<ProbeConfig>,
    /// Sealed secrets (the API-key pepper) and the audit checkpoint signer.
    pub keys: crate::key_setup::KeyMaterial,
    /// Load the OFAC snapshot bundled in the binary when the store has no OFAC list yet.
    pub bundled_lists: bool,
}

/// Starts the gateway over `pool` and serves the API (plus `extra` routes, behind the
/// same credential) on `listen`.
pub async fn start(
    store: Store,
    pool: Arc<NodePool>,
    sink: Arc<GatewaySink>,
    listen: SocketAddr,
    files: &AccessSetup,
    services: Services,
    extra: Option<axum::Router>,
) -> anyhow::Result<Running> {
    let (clock, ids) = (Arc::new(SystemClock), Arc::new(RandomIds));
    let pepper = crate::key_setup::pepper(
        &services.keys.vault,
        files.legacy_pepper.as_deref(),
        &audit::Origin::system("start"),
    )
    .await?;
    let signer = Arc::clone(&services.keys.checkpoint_signer);
    let keys = ApiKeys::new(store.clone(), pepper, clock.clone(), ids.clone());
    bootstrap_key(
        &keys,
        &files.admin_key,
        "bootstrap admin",
        access::Role::Admin,
    )
    .await?;
    if let Some(second) = &files.second_admin_key {
        bootstrap_key(&keys, second, "second admin", access::Role::Admin).await?;
    }
    if let Some(officer) = &files.compliance_key {
        let role = access::Role::Compliance;
        bootstrap_key(&keys, officer, "compliance officer", role).await?;
    }
    let mut approver_credentials = Vec::new();
    for (name, path) in &files.approver_keys {
        let role = access::Role::Approver;
        approver_credentials.push(bootstrap_key(&keys, path, name, role).await?);
    }
    let oidc = oidc_verifier(&files.oidc_issuers).await?;
    let auth = api::Auth::new(
        keys,
        oidc,
        store.clone(),
        clock.clone(),
        ids.clone(),
        &files.limits,
        api::TrustedProxies::new(files.trusted_proxies.clone(), files.trusted_proxy_header),
    );
    let checkpointer = Checkpointer::spawn(store.clone(), signer);
    let webhooks = Webhooks::new(
        store.clone(),
        clock.clone(),
        ids.clone(),
        services.webhooks,
        services.keys.vault.clone(),
    );
    let sealed = webhooks
        .seal_clear_secrets(&audit::Origin::system("start"))
        .await
        .context("sealing webhook secrets")?;
    if sealed > 0 {
        tracing::info!(
            sealed,
            "webhook secrets from before the vault sealed into it"
        );
    }
    let transport = HttpTransport::new(webhooks.config())
        .map_err(|e| anyhow::anyhow!("webhook HTTP client: {e}"))?;
    let mut builder =
        Gateway::builder(store, clock, ids, services.gateway).approval_signer(Arc::new(
            gateway::KeyStoreApprovalSigner(Arc::clone(&services.keys.keys)),
        ));
    if let Some(chain) = services.chain {
        builder = builder.chain_tip(Arc::new(ChainSourceTip::new(chain)?));
    }
    let gateway = builder.event_sink(sink).build(pool);
    if services.bundled_lists {
        crate::lists_cmd::seed_bundled(gateway.screening())
            .await
            .context("loading the bundled sanctions list")?;
    }
    gateway.start().await.context("gateway start")?;
    let state = api::ApiState {
        gateway: gateway.clone(),
        webhooks: webhooks.clone(),
        auth: auth.clone(),
    };
    let mut app = api::router(state.clone()).merge(api::metrics_router(metrics_handle()?, state));
    if let Some(extra) = extra {
        app = app.merge(api::guard_all(
            extra,
            &auth,
            access::ApiScope::Admin,
            "devnet.control",
        ));
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let stopped = async {
        let _ = stopped.await;
    };
    let serving = match &files.tls {
        Some(tls) => {
            let listener = api::TlsListener::start(listener, tls.clone())?;
            tokio::spawn(api::serve_on(listener, app, stopped))
        }
        None => tokio::spawn(api::serve(listener, app, stopped)),
    };
    let jobs = crate::background_jobs::start(&gateway, &webhooks, services.probes);
    let dispatcher = webhooks.spawn_dispatcher(Arc::new(transport));
    Ok(Running {
        gateway,
        addr,
        stop,
        serving,
        jobs,
        dispatcher,
        checkpointer,
        auth,
        approver_credentials,
    })
}
