//! `fulgur keys init|list|rotate|destroy --config fulgur.toml`: the key store and the
//! vault as an operator manages them, against the store and key store the service uses
//! (and while it runs). Each change is audited as the CLI's.

use std::path::PathBuf;

use anyhow::Context;
use audit::{Entry, Origin, Outcome};
use keystore::KeyKind;

use crate::serve::ToolConfig;
use crate::{key_setup, BadInput};

#[derive(clap::Args)]
pub struct ConfigArgs {
    /// The service's config file; its `[store]` and `[keys]` sections are used.
    #[arg(long, env = "FULGUR_CONFIG")]
    pub config: PathBuf,
}

#[derive(clap::Subcommand)]
pub enum Which {
    /// Open (or create) the key store, the vault's key-encryption key and the approval
    /// policy's HSM keys (approval-operations, approval-backup); prints their public keys.
    Init {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// The keys held (never their values) and the secrets sealed under them.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Rotate the key-encryption key: re-wrap every sealed secret under a new version,
    /// then destroy the old versions. Safe while the service runs.
    Rotate {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Destroy a key. Refused for the vault's key-encryption keys (rotate instead).
    Destroy {
        #[command(flatten)]
        config: ConfigArgs,
        label: String,
        /// The label again, to confirm: destruction cannot be undone.
        #[arg(long)]
        confirm: String,
    },
}

/// The operator at the terminal, as the audit trail records them.
pub(crate) fn cli_origin() -> Origin {
    Origin {
        actor_id: "cli".to_string(),
        subject: std::env::var("USER").unwrap_or_else(|_| "unknown".to_string()),
        request_id: format!("cli-{}", std::process::id()),
        source_ip: None,
    }
}

pub async fn run(which: Which) -> anyhow::Result<()> {
    let config_path = match &which {
        Which::Init { config }
        | Which::List { config }
        | Which::Rotate { config }
        | Which::Destroy { config, .. } => config.config.clone(),
    };
    let config = ToolConfig::load(&config_path)?;
    let store = config.open_store().await?;
    let keys = config.keys.open()?;
    let origin = cli_origin();
    let vault = key_setup::open_vault(&store, keys.clone(), &origin).await?;
    match which {
        Which::Init { .. } => {
            println!("key store: {}", config.keys.describe());
            println!(
                "key-encryption key: {} (current)",
                vault.current_kek().await?
            );
            // The approval policy's HSM approvers: their public keys go in the policy.
            for (label, public) in key_setup::approval_keys(keys.as_ref())? {
                println!("approval key {label}: secp256k1 {public}");
            }
        }
        Which::List { .. } => {
            println!("keys in {}:", config.keys.describe());
            for key in keys.list()? {
                let protection = keys.protection(&key.label)?;
                let public = match key.kind {
                    KeyKind::Secp256k1 => format!("  public {}", keys.public_key(&key.label)?),
                    KeyKind::P256 => format!(
                        "  public {}",
                        hex::encode(keys.p256_public_key(&key.label)?.to_sec1_point(true))
                    ),
                    _ => String::new(),
                };
                println!(
                    "  {:<32} {:<12} sensitive={} extractable={}{public}",
                    key.label,
                    key.kind.as_str(),
                    protection.sensitive,
                    protection.extractable
                );
            }
            println!(
                "sealed secrets (key-encryption key {} current):",
                vault.current_kek().await?
            );
            for secret in vault.secrets().await? {
                println!(
                    "  {:<32} wrapped by {:<20} since {}",
                    secret.name,
                    secret.kek_label,
                    kernel::rfc3339(secret.wrapped_at_ms)
                );
            }
        }
        Which::Rotate { .. } => {
            let rotation = vault.rotate(&origin).await.context("rotation")?;
            println!(
                "rotated {} -> {}: {} secret(s) re-wrapped; destroyed: {}",
                rotation.from,
                rotation.to,
                rotation.rewrapped,
                if rotation.destroyed.is_empty() {
                    "none".to_string()
                } else {
                    rotation.destroyed.join(", ")
                }
            );
        }
        Which::Destroy { label, confirm, .. } => {
            if confirm != label {
                return Err(
                    BadInput(format!("--confirm {confirm:?} does not repeat {label:?}")).into(),
                );
            }
            if label.starts_with(&format!("{}.v", vault.kek_name())) {
                return Err(BadInput(format!(
                    "{label} is a key-encryption key of the vault: `fulgur keys rotate` retires it safely"
                ))
                .into());
            }
            let destroyed = keys.destroy(&label);
            let outcome = match &destroyed {
                Ok(()) => Outcome::Success,
                Err(_) => Outcome::Failed,
            };
            let entry = Entry {
                at_ms: crate::gateway_up::now_ms(),
                origin,
                tenant_id: None,
                action: "key.destroy".to_string(),
                target: Some(label.clone()),
                outcome,
                details: destroyed.as_ref().err().map(ToString::to_string),
            };
            store.write(move |sql| audit::append(sql, &entry)).await?;
            destroyed.map_err(|e| BadInput(format!("{label}: {e}")))?;
            println!("destroyed {label}");
        }
    }
    Ok(())
}
