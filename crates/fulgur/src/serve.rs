//! `fulgur serve --config fulgur.toml`: production. The config is TOML; every key can be
//! overridden by an environment variable `FULGUR_SECTION__KEY` (e.g.
//! `FULGUR_STORE__URL`, `FULGUR_LIGHTNING__CHAIN__RPC_PASSWORD`). See
//! `deploy/fulgur.example.toml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use gateway::GatewaySink;
use node_pool::{ChainSource, LdkNode, LightningNode, Network, NodeConfig, NodePool, SinkHandle};
use serde::Deserialize;

use crate::{gateway_up, key_setup, BadInput};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreSection,
    /// Where keys live: node seeds, the API-key pepper and webhook secrets are sealed
    /// under a key-encryption key there.
    pub keys: crate::key_setup::KeysSection,
    pub lightning: LightningConfig,
    #[serde(default)]
    pub webhooks: WebhookSection,
    #[serde(default)]
    pub oidc: OidcSection,
    #[serde(default)]
    pub quotas: QuotaSection,
    #[serde(default)]
    pub readiness: ReadinessSection,
    /// Objectives for the SLA report (defaults in `gateway::SloConfig`).
    #[serde(default)]
    pub slo: gateway::SloConfig,
    /// Synthetic probes between the nodes (defaults in `gateway::ProbeConfig`).
    #[serde(default)]
    pub probes: gateway::ProbeConfig,
    /// Logs and traces (defaults in `telemetry::LogConfig`).
    #[serde(default)]
    pub log: crate::telemetry::LogConfig,
    /// The EUR rate approval thresholds use.
    #[serde(default)]
    pub approvals: ApprovalsSection,
    #[serde(default)]
    pub screening: ScreeningSection,
    /// Suspicious activity reports: due time, the FIU's id and lookup codes.
    #[serde(default)]
    pub reports: gateway::ReportConfig,
    /// How long a customer's records are kept after the relationship ends.
    #[serde(default)]
    pub retention: compliance::RetentionConfig,
}

/// `[approvals]`: the policy itself is proposed and approved over the API (two admins).
/// Sanctions screening (docs/compliance.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreeningSection {
    /// Load the OFAC snapshot bundled in the binary when the store has no OFAC list yet
    /// (default true); production then loads current lists with `fulgur lists import`.
    #[serde(default = "yes")]
    pub bundled_snapshot: bool,
    /// The score a name must reach to be a hit, 0.5 to 1 (default 0.8).
    pub threshold: Option<f64>,
}

fn yes() -> bool {
    true
}

impl ScreeningSection {
    fn threshold(&self) -> anyhow::Result<f64> {
        match self.threshold {
            None => Ok(gateway::GatewayConfig::default().screening_threshold),
            Some(t) if (compliance::MIN_THRESHOLD..=1.0).contains(&t) => Ok(t),
            Some(t) => Err(crate::BadInput(format!(
                "[screening] threshold = {t}: must be from {} to 1",
                compliance::MIN_THRESHOLD
            ))
            .into()),
        }
    }
}

impl Default for ScreeningSection {
    fn default() -> Self {
        Self {
            bundled_snapshot: true,
            threshold: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsSection {
    /// EUR cents per bitcoin (default 5,000,000: 50,000 EUR), recorded with each decision.
    pub eur_cents_per_btc: Option<u64>,
}

/// When `/readyz` answers 200 (defaults in `gateway::GatewayConfig`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadinessSection {
    /// Nodes that must be healthy and in sync (default 1).
    pub min_ready_nodes: Option<usize>,
    /// Blocks a node may trail the chain's tip and still count as in sync (default 6).
    pub max_sync_lag_blocks: Option<u32>,
}

/// Per-tenant daily API call quotas; calls are counted whether or not a quota is set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSection {
    /// Calls a tenant may make per UTC day; absent: unlimited.
    pub default_daily_calls: Option<u64>,
    /// Per-tenant overrides: `tenant_daily_calls = { acme = 1000000 }`.
    #[serde(default)]
    pub tenant_daily_calls: std::collections::BTreeMap<String, u64>,
}

/// Trusted OAuth2 / OIDC token issuers (`[[oidc.issuers]]`); none by default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSection {
    #[serde(default)]
    pub issuers: Vec<oidc::IssuerConfig>,
}

/// Webhook delivery; every key optional (defaults in `webhooks::WebhookConfig`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// Accept `http://` receiver URLs (default false: HTTPS only).
    pub allow_http: Option<bool>,
    /// Private networks (CIDRs) receivers may be in after all, such as an on-premise
    /// receiver's (default none: public addresses only).
    pub allowed_private_networks: Option<Vec<ipnet::IpNet>>,
    pub max_attempts: Option<u32>,
    pub initial_backoff_ms: Option<i64>,
    pub max_backoff_ms: Option<i64>,
    pub request_timeout_ms: Option<u64>,
    pub max_subscriptions_per_tenant: Option<usize>,
}

impl WebhookSection {
    fn config(&self) -> anyhow::Result<webhooks::WebhookConfig> {
        let d = webhooks::WebhookConfig::default();
        let config = webhooks::WebhookConfig {
            allow_http: self.allow_http.unwrap_or(d.allow_http),
            allowed_private_networks: self
                .allowed_private_networks
                .clone()
                .unwrap_or(d.allowed_private_networks.clone()),
            max_attempts: self.max_attempts.unwrap_or(d.max_attempts),
            initial_backoff_ms: self.initial_backoff_ms.unwrap_or(d.initial_backoff_ms),
            max_backoff_ms: self.max_backoff_ms.unwrap_or(d.max_backoff_ms),
            request_timeout_ms: self.request_timeout_ms.unwrap_or(d.request_timeout_ms),
            max_subscriptions_per_tenant: self
                .max_subscriptions_per_tenant
                .unwrap_or(d.max_subscriptions_per_tenant),
            ..d
        };
        anyhow::ensure!(
            config.max_attempts >= 1
                && config.initial_backoff_ms >= 1
                && config.max_backoff_ms >= config.initial_backoff_ms
                && (1..=300_000).contains(&config.request_timeout_ms),
            "webhooks: max_attempts >= 1, 1 <= initial_backoff_ms <= max_backoff_ms, \
             request_timeout_ms 1..=300000"
        );
        Ok(config)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// File holding the bootstrap administrator API key; issued and written (mode 0600)
    /// if absent.
    pub admin_key_file: PathBuf,
    /// A pepper file from before the vault (64 hex characters): adopted into the vault
    /// and removed at start. New installations leave it out; the pepper lives in the vault.
    pub pepper_file: Option<PathBuf>,
    /// An Ed25519 seed file that signs audit checkpoints (created if absent), for
    /// installations whose checkpoints it already signed. Without it, the key store's
    /// `audit-checkpoint` key signs (generated on first start).
    pub audit_signing_key_file: Option<PathBuf>,
    /// TLS 1.3 on `listen`; absent: plain HTTP (only behind a TLS-terminating proxy).
    pub tls: Option<TlsSection>,
    /// Networks of the proxies in front (CIDRs): only their forwarding header is
    /// believed, to find the client's address for API-key allowlists, throttling and the
    /// audit trail. Default none.
    #[serde(default)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The one header those proxies write: `x-forwarded-for` (default) or `forwarded`.
    #[serde(default)]
    pub trusted_proxy_header: api::ForwardedHeader,
}

/// The API listener's certificate (from `fulgur pki issue server`), reread when changed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The CA client certificates must chain to; required unless client_auth = "off".
    pub client_ca_file: Option<PathBuf>,
    /// The CA's revocation list (`fulgur pki revoke` writes `DIR/ca.crl`); certificates it
    /// lists are refused at the handshake.
    pub client_crl_file: Option<PathBuf>,
    /// `off` (default), `optional` or `required`.
    #[serde(default)]
    pub client_auth: api::ClientAuth,
    /// How often the files are checked for changes (default 10 s).
    #[serde(default = "default_reload_secs")]
    pub reload_interval_secs: u64,
}

fn default_reload_secs() -> u64 {
    10
}

impl TlsSection {
    fn config(&self) -> api::TlsConfig {
        api::TlsConfig {
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            client_ca_file: self.client_ca_file.clone(),
            client_crl_file: self.client_crl_file.clone(),
            client_auth: self.client_auth,
            reload_interval: std::time::Duration::from_secs(self.reload_interval_secs.max(1)),
        }
    }
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`.
    pub url: String,
    /// Apply pending migrations on start (default: refuse to start; run `fulgur migrate`).
    #[serde(default)]
    pub auto_migrate: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LightningConfig {
    /// `bitcoin`, `testnet`, `signet` or `regtest`.
    pub network: String,
    /// Each node keeps its state in `DATA_DIR/NAME`.
    pub data_dir: PathBuf,
    pub chain: ChainConfig,
    pub nodes: Vec<NodeSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "source", rename_all = "lowercase")]
pub enum ChainConfig {
    Bitcoind {
        host: String,
        port: u16,
        rpc_user: String,
        rpc_password: String,
    },
    Esplora {
        url: String,
    },
    Electrum {
        url: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    pub name: String,
    /// Lightning P2P listen address.
    pub listen: SocketAddr,
}

/// Reads the TOML file `path` as `T`, then applies `FULGUR_SECTION__KEY` overrides.
pub fn load_config<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    anyhow::ensure!(path.exists(), "config file {} not found", path.display());
    Figment::new()
        .merge(Toml::file(path))
        // Only FULGUR_SECTION__KEY: other FULGUR_ variables (FULGUR_LOG, test settings)
        // are not config keys.
        .merge(
            Env::prefixed("FULGUR_")
                .filter(|key| key.as_str().contains("__"))
                .split("__"),
        )
        .extract()
        .map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))
}

/// What the operator commands (`fulgur keys`, `fulgur apikey`) read from the service's
/// config file: the store and the key store; the other sections are ignored.
#[derive(Debug, Deserialize, serde::Serialize)]
pub struct ToolConfig {
    pub store: StoreSection,
    pub keys: crate::key_setup::KeysSection,
}

impl ToolConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        load_config(path).map_err(|e| BadInput(e.to_string()).into())
    }

    /// The store, which must be migrated already (`fulgur migrate`).
    pub async fn open_store(&self) -> anyhow::Result<store::Store> {
        let store = store::Store::open(&store::StoreConfig::new(&self.store.url)).await?;
        store.require_current_schema().await?;
        Ok(store)
    }
}

impl Config {
    /// Reads `path`, then applies `FULGUR_SECTION__KEY` overrides.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        load_config(path)
    }

    fn network(&self) -> anyhow::Result<Network> {
        self.lightning.network.parse().map_err(|_| {
            anyhow::anyhow!(
                "lightning.network {:?} is not bitcoin, testnet, signet or regtest",
                self.lightning.network
            )
        })
    }
}

/// The `[log]` section, read before logging starts; a config that does not load gets
/// the defaults here and its one-line error from [`run`].
pub fn log_config(path: &Path) -> crate::telemetry::LogConfig {
    Config::load(path).map(|c| c.log).unwrap_or_default()
}

pub async fn run(path: &Path) -> anyhow::Result<()> {
    let config = Config::load(path).map_err(|e| BadInput(e.to_string()))?;
    let network = config.network().map_err(|e| BadInput(e.to_string()))?;
    let webhook_config = config
        .webhooks
        .config()
        .map_err(|e| BadInput(e.to_string()))?;
    anyhow::ensure!(
        !config.lightning.nodes.is_empty(),
        BadInput("lightning.nodes lists no node".into())
    );
    config
        .slo
        .validate()
        .map_err(|e| BadInput(format!("slo: {e}")))?;
    config.probes.validate().map_err(BadInput)?;
    if config.approvals.eur_cents_per_btc == Some(0) {
        return Err(BadInput("approvals.eur_cents_per_btc must be positive".into()).into());
    }
    let store = if config.store.auto_migrate {
        gateway_up::open_store(&config.store.url).await?
    } else {
        let store = store::Store::open(&store::StoreConfig::new(&config.store.url)).await?;
        store.require_current_schema().await?;
        store
    };
    let chain = match &config.lightning.chain {
        ChainConfig::Bitcoind {
            host,
            port,
            rpc_user,
            rpc_password,
        } => ChainSource::BitcoindRpc {
            host: host.clone(),
            port: *port,
            user: rpc_user.clone(),
            password: rpc_password.clone(),
        },
        ChainConfig::Esplora { url } => ChainSource::Esplora { url: url.clone() },
        ChainConfig::Electrum { url } => ChainSource::Electrum { url: url.clone() },
    };
    let origin = audit::Origin::system("serve");
    let keys = key_setup::key_material(
        &store,
        config.keys.open()?,
        config.server.audit_signing_key_file.as_deref(),
        &origin,
    )
    .await?;
    tracing::info!(
        key_store = %config.keys.describe(),
        audit_checkpoint_key = %keys.checkpoint_key.to_hex(),
        "key store open"
    );
    let vault = &keys.vault;
    let sink = GatewaySink::new();
    let pool = Arc::new(NodePool::new());
    for node in &config.lightning.nodes {
        let storage_dir = config.lightning.data_dir.join(&node.name);
        let seed = key_setup::node_seed(vault, &node.name, &storage_dir, &origin).await?;
        let mut node_config =
            NodeConfig::new(node.name.clone(), storage_dir, node.listen, chain.clone());
        node_config.seed = Some(node_pool::NodeSeed::new(seed));
        node_config.network = network;
        node_config.event_sink = Some(SinkHandle(sink.clone()));
        let started = LdkNode::start(node_config)
            .await
            .with_context(|| format!("node {}", node.name))?;
        let started: Arc<dyn LightningNode> = Arc::new(started);
        pool.add(started)?;
    }
    let files = gateway_up::AccessSetup {
        admin_key: config.server.admin_key_file.clone(),
        // In production a second administrator is a person with a key made out of band
        // (`fulgur apikey create` on the machine) or an OIDC subject, not a file here.
        second_admin_key: None,
        // Officers sign in with their own keys or OIDC.
        compliance_key: None,
        // Approvers too (`fulgur apikey create --role approver`).
        approver_keys: Vec::new(),
        legacy_pepper: config.server.pepper_file.clone(),
        oidc_issuers: config.oidc.issuers.clone(),
        tls: config.server.tls.as_ref().map(TlsSection::config),
        trusted_proxies: config.server.trusted_proxies.clone(),
        trusted_proxy_header: config.server.trusted_proxy_header,
        limits: api::RateLimitConfig {
            quotas: access::UsageConfig {
                default_daily_calls: config.quotas.default_daily_calls,
                tenant_daily_calls: config.quotas.tenant_daily_calls.clone(),
                ..access::UsageConfig::default()
            },
            ..api::RateLimitConfig::default()
        },
    };
    let running = gateway_up::start(
        store,
        Arc::clone(&pool),
        sink,
        config.server.listen,
        &files,
        gateway_up::Services {
            gateway: gateway::GatewayConfig {
                instance_id: Some(gateway_up::instance_id(&config.lightning.data_dir)),
                screening_threshold: config.screening.threshold()?,
                reports: {
                    config
                        .reports
                        .check()
                        .map_err(|e| crate::BadInput(format!("[reports] {e}")))?;
                    config.reports.clone()
                },
                retention: {
                    config
                        .retention
                        .check()
                        .map_err(|e| crate::BadInput(format!("[retention] {e}")))?;
                    config.retention
                },
                ..gateway_config(&config.readiness, &config.slo, &config.approvals)
            },
            webhooks: webhook_config,
            chain: Some(chain),
            probes: Some(config.probes.clone()),
            keys: keys.clone(),
            bundled_lists: config.screening.bundled_snapshot,
        },
        None,
    )
    .await?;
    let shutdown = crate::shutdown_signal();
    let scheme = if config.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("ready: {scheme}://{}", running.addr);
    shutdown.await;
    println!("shutting down");
    running.stop().await?;
    for status in pool.status() {
        if let Ok(node) = pool.get(&status.name) {
            node.stop().await?;
        }
    }
    Ok(())
}

fn gateway_config(
    readiness: &ReadinessSection,
    slo: &gateway::SloConfig,
    approvals: &ApprovalsSection,
) -> gateway::GatewayConfig {
    let defaults = gateway::GatewayConfig::default();
    let eur_rate = match approvals.eur_cents_per_btc {
        Some(rate) => gateway::EurRateConfig {
            eur_cents_per_btc: rate,
            source: "fixed:config".into(),
        },
        None => defaults.eur_rate.clone(),
    };
    gateway::GatewayConfig {
        slo: slo.clone(),
        eur_rate,
        health: gateway::HealthConfig {
            min_ready_nodes: readiness
                .min_ready_nodes
                .unwrap_or(defaults.health.min_ready_nodes),
            max_sync_lag_blocks: readiness
                .max_sync_lag_blocks
                .unwrap_or(defaults.health.max_sync_lag_blocks),
        },
        ..defaults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_config_loads_and_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/fulgur.example.toml");
        let config = Config::load(&path).expect("example config");
        config.network().expect("network");
        let webhooks = config.webhooks.config().expect("webhooks");
        let defaults = webhooks::WebhookConfig::default();
        assert_eq!(
            (
                webhooks.max_attempts,
                webhooks.max_backoff_ms,
                webhooks.allow_http
            ),
            (defaults.max_attempts, defaults.max_backoff_ms, false),
            "the example shows the defaults"
        );
        assert!(
            webhooks.allowed_private_networks.is_empty(),
            "public receivers only by default"
        );
        assert_eq!(config.lightning.nodes.len(), 2);
        assert_eq!(
            config.slo,
            gateway::SloConfig::default(),
            "the example shows the defaults"
        );
        assert_eq!(config.probes, gateway::ProbeConfig::default());
        config.slo.validate().expect("valid objectives");
        config.probes.validate().expect("valid probes");
        let readiness = gateway_config(&config.readiness, &config.slo, &config.approvals);
        let defaults = gateway::GatewayConfig::default();
        assert_eq!(readiness.health, defaults.health);
        config.reports.check().expect("valid report settings");
        assert_eq!(config.reports.due_hours, defaults.reports.due_hours);
        let mut hostile = config.reports.clone();
        hostile.codes.unknown_country = "Unknown".into();
        assert!(
            hostile.check().is_err(),
            "goAML takes ISO 3166 alpha-2 only"
        );
        assert_eq!(
            config.retention, defaults.retention,
            "the example shows the default"
        );
        config.retention.check().expect("valid retention");
        for years in [0, 4, 11, u32::MAX] {
            let short = compliance::RetentionConfig {
                years,
                ..defaults.retention
            };
            assert!(short.check().is_err(), "{years} years");
        }
        for operational_days in [0, 366, u32::MAX] {
            let odd = compliance::RetentionConfig {
                operational_days,
                ..defaults.retention
            };
            assert!(odd.check().is_err(), "{operational_days} days");
        }
        hostile = config.reports.clone();
        hostile.due_hours = 0;
        assert!(
            hostile.check().is_err(),
            "a report due at detection is due before anyone sees it"
        );
    }
}
