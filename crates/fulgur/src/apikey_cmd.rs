//! `fulgur apikey create|list|rotate|revoke`: API keys managed on the store directly (for
//! the first keys, and for operators without an admin key at hand). Each operation is
//! audited as the CLI's, like the same call under `/v1/apikeys`.

use std::sync::Arc;

use access::{AccessError, ApiKeyInfo, ApiKeys, ApiScope, NewApiKey, Role};
use kernel::{rfc3339, Actor, RandomIds, Scope, SystemClock};

use crate::keys_cmd::{cli_origin, ConfigArgs};
use crate::serve::ToolConfig;
use crate::{key_setup, BadInput};

#[derive(clap::Subcommand)]
pub enum Which {
    /// Issue a key; it is printed once.
    Create {
        #[command(flatten)]
        config: ConfigArgs,
        /// Bind the key to this tenant (omit for a platform key).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        name: String,
        /// admin, operator, approver, compliance, auditor or integration; repeatable.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// An extra scope such as payments:read; repeatable.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A source address or CIDR the key is accepted from; repeatable.
        #[arg(long = "allow-ip")]
        allow_ips: Vec<String>,
        /// RFC 3339 expiry.
        #[arg(long)]
        expires_at: Option<String>,
        #[arg(long, default_value = "standard")]
        rate_tier: String,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Issue a successor; the old key stays valid for the overlap.
    Rotate {
        #[command(flatten)]
        config: ConfigArgs,
        id: String,
        #[arg(long, default_value_t = 86_400)]
        overlap_secs: u32,
    },
    /// Refuse the key from now on.
    Revoke {
        #[command(flatten)]
        config: ConfigArgs,
        id: String,
    },
}

fn bad(e: impl std::fmt::Display) -> anyhow::Error {
    BadInput(e.to_string()).into()
}

/// The domain's refusals are the caller's to fix (exit 2); store trouble is not.
fn refusal(e: AccessError) -> anyhow::Error {
    match e {
        AccessError::Store(_) => e.into(),
        other => bad(other),
    }
}

/// The keys on the service's store, hashed under the service's pepper (from the vault).
async fn open(args: &ConfigArgs) -> anyhow::Result<ApiKeys> {
    let config = ToolConfig::load(&args.config)?;
    let store = config.open_store().await?;
    let vault = key_setup::open_vault(&store, config.keys.open()?, &cli_origin()).await?;
    let pepper = key_setup::pepper(&vault, None, &cli_origin()).await?;
    Ok(ApiKeys::new(
        store,
        pepper,
        Arc::new(SystemClock),
        Arc::new(RandomIds),
    ))
}

fn cli_actor() -> Actor {
    Actor {
        scope: Scope::All,
        origin: cli_origin(),
        identity: kernel::OUT_OF_BAND.to_string(),
    }
}

fn print_key(key: &ApiKeyInfo) {
    let roles: Vec<_> = key.roles.iter().map(|r| r.as_str()).collect();
    let scopes: Vec<_> = key.scopes.iter().map(|s| s.as_str()).collect();
    let state = match (key.revoked_at_ms, key.expires_at_ms) {
        (Some(at), _) => format!("revoked {}", rfc3339(at)),
        (None, Some(at)) => format!("expires {}", rfc3339(at)),
        (None, None) => "no expiry".to_string(),
    };
    println!(
        "{}  tenant={}  name={:?}  roles={}  scopes={}  tier={}  {}",
        key.id,
        key.tenant_id.as_deref().unwrap_or("(platform)"),
        key.name,
        roles.join(","),
        scopes.join(","),
        key.rate_tier,
        state
    );
}

pub async fn run(which: Which) -> anyhow::Result<()> {
    match which {
        Which::Create {
            config,
            tenant,
            name,
            roles,
            scopes,
            allow_ips,
            expires_at,
            rate_tier,
        } => {
            let new = NewApiKey {
                tenant_id: tenant,
                name,
                roles: roles
                    .iter()
                    .map(|r| r.parse::<Role>())
                    .collect::<Result<_, _>>()
                    .map_err(bad)?,
                scopes: scopes
                    .iter()
                    .map(|s| s.parse::<ApiScope>())
                    .collect::<Result<_, _>>()
                    .map_err(bad)?,
                ip_allowlist: allow_ips
                    .iter()
                    .map(|n| {
                        n.parse::<ipnet::IpNet>()
                            .or_else(|_| n.parse::<std::net::IpAddr>().map(Into::into))
                            .map_err(|_| bad(format!("--allow-ip {n:?} is not an address or CIDR")))
                    })
                    .collect::<Result<_, _>>()?,
                expires_at_ms: expires_at
                    .map(|at| {
                        chrono::DateTime::parse_from_rfc3339(&at)
                            .map(|t| t.timestamp_millis())
                            .map_err(|_| bad(format!("--expires-at {at:?} is not RFC 3339")))
                    })
                    .transpose()?,
                rate_tier,
            };
            let keys = open(&config).await?;
            let (info, secret) = keys.create(&cli_actor(), new).await.map_err(refusal)?;
            print_key(&info);
            println!("key (shown once): {}", secret.expose());
        }
        Which::List { config } => {
            let keys = open(&config).await?;
            let mut after = None;
            loop {
                let page = keys.list(&Scope::All, after.clone(), 500).await?;
                page.iter().for_each(print_key);
                match page.last() {
                    Some(last) if page.len() == 500 => after = Some(last.id.clone()),
                    _ => break,
                }
            }
        }
        Which::Rotate {
            config,
            id,
            overlap_secs,
        } => {
            let keys = open(&config).await?;
            let (info, secret) = keys
                .rotate(&cli_actor(), &id, overlap_secs)
                .await
                .map_err(refusal)?;
            println!("{id} stays valid for {overlap_secs} s; its successor:");
            print_key(&info);
            println!("key (shown once): {}", secret.expose());
        }
        Which::Revoke { config, id } => {
            let keys = open(&config).await?;
            let info = keys.revoke(&cli_actor(), &id).await.map_err(refusal)?;
            print_key(&info);
        }
    }
    Ok(())
}
