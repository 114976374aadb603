//! `fulgur pki init|issue|renew|revoke|status`: the internal CA on disk (see the `pki`
//! crate), its key in `ca.key` or, with `--config`, in the service's key store (HSM). A
//! running server rereads renewed certificates and the revocation list by itself.

use std::net::IpAddr;
use std::path::PathBuf;

use access::Role;
use pki::{Pki, PkiError, Profile, DEFAULT_CA_VALIDITY_DAYS, DEFAULT_VALIDITY_DAYS};

use crate::serve::ToolConfig;
use crate::BadInput;

/// The CA key's label in the key store unless `--key-label` says otherwise.
const DEFAULT_CA_KEY_LABEL: &str = "pki-ca";

/// The CA's directory and, for a CA whose key is in the key store, where that store is.
#[derive(clap::Args)]
pub struct CaDir {
    #[arg(long, env = "FULGUR_PKI_DIR")]
    dir: PathBuf,
    /// The service's config file: its `[keys]` section is the key store holding (or, at
    /// `init`, to hold) the CA's key. Without it the key is the file `ca.key`. Never
    /// taken from FULGUR_CONFIG: where a CA's key goes is said on the command line.
    #[arg(long)]
    config: Option<PathBuf>,
}

impl CaDir {
    fn open(&self) -> anyhow::Result<Pki> {
        Ok(match &self.config {
            None => Pki::new(&self.dir),
            Some(path) => Pki::with_key_store(&self.dir, ToolConfig::load(path)?.keys.open()?),
        })
    }
}

#[derive(clap::Subcommand)]
pub enum Which {
    /// Create the CA in --dir: ca.crt, and its key in ca.key or, with --config, generated
    /// in the key store (never on disk; ca.keystore names its label). Refuses if one exists.
    Init {
        #[command(flatten)]
        ca: CaDir,
        #[arg(long, default_value_t = DEFAULT_CA_VALIDITY_DAYS)]
        days: u32,
        /// The CA key's label in the key store (with --config).
        #[arg(long, requires = "config", default_value = DEFAULT_CA_KEY_LABEL)]
        key_label: String,
    },
    /// Issue NAME.crt and NAME.key, signed by the CA.
    Issue {
        #[command(flatten)]
        ca: CaDir,
        #[command(subcommand)]
        kind: Kind,
    },
    /// Reissue NAME with a fresh key and the same identity.
    Renew {
        #[command(flatten)]
        ca: CaDir,
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = DEFAULT_VALIDITY_DAYS)]
        days: u32,
    },
    /// Revoke NAME's current certificate: added to the CA's revocation list (ca.crl),
    /// which a running server rereads and checks at every handshake.
    Revoke {
        #[command(flatten)]
        ca: CaDir,
        #[arg(long)]
        name: String,
    },
    /// Every certificate with its expiry; exit 1 if one has fewer than 30 days left.
    Status {
        #[arg(long, env = "FULGUR_PKI_DIR")]
        dir: PathBuf,
    },
}

#[derive(clap::Subcommand)]
pub enum Kind {
    /// A TLS server certificate for the API listener.
    Server {
        #[arg(long)]
        name: String,
        /// A DNS name clients use (repeatable).
        #[arg(long)]
        dns: Vec<String>,
        /// An address clients use (repeatable).
        #[arg(long)]
        ip: Vec<IpAddr>,
        #[arg(long, default_value_t = DEFAULT_VALIDITY_DAYS)]
        days: u32,
    },
    /// A client certificate: a caller of one tenant (or the platform) with roles.
    Client {
        #[arg(long)]
        name: String,
        #[arg(long, conflicts_with = "platform")]
        tenant: Option<String>,
        /// A platform-wide caller (sees every tenant).
        #[arg(long)]
        platform: bool,
        /// admin, operator, approver, compliance, auditor or integration (repeatable).
        #[arg(long, required = true)]
        role: Vec<String>,
        #[arg(long, default_value_t = DEFAULT_VALIDITY_DAYS)]
        days: u32,
    },
}

fn now_unix() -> i64 {
    crate::gateway_up::now_ms() / 1000
}

/// What the operator can fix is exit 2; a broken CA directory is exit 1.
fn classify(error: PkiError) -> anyhow::Error {
    match error {
        PkiError::InvalidInput(_)
        | PkiError::Exists(_)
        | PkiError::Missing(_)
        | PkiError::KeyStore(
            keystore::KeyStoreError::LabelTaken(_)
            | keystore::KeyStoreError::UnknownKey(_)
            | keystore::KeyStoreError::WrongKind { .. }
            | keystore::KeyStoreError::InvalidLabel(_),
        ) => BadInput(error.to_string()).into(),
        other => other.into(),
    }
}

fn profile(kind: &Kind) -> anyhow::Result<(String, Profile, u32)> {
    Ok(match kind {
        Kind::Server {
            name,
            dns,
            ip,
            days,
        } => (
            name.clone(),
            Profile::Server {
                dns: dns.clone(),
                ips: ip.clone(),
            },
            *days,
        ),
        Kind::Client {
            name,
            tenant,
            platform,
            role,
            days,
        } => {
            if tenant.is_none() && !platform {
                return Err(BadInput("give --tenant or --platform".into()).into());
            }
            let roles = role
                .iter()
                .map(|r| r.parse::<Role>().map_err(|e| BadInput(e.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            (
                name.clone(),
                Profile::Client {
                    tenant: tenant.clone(),
                    roles,
                },
                *days,
            )
        }
    })
}

pub fn run(which: Which) -> anyhow::Result<()> {
    let show = |issued: pki::Issued| {
        let until = chrono::DateTime::from_timestamp(issued.not_after_unix, 0)
            .map_or_else(String::new, |t| t.to_rfc3339());
        println!(
            "{}: {} (key {}), valid until {until}",
            issued.name,
            issued.cert_path.display(),
            issued.key_path.display()
        );
    };
    match which {
        Which::Init {
            ca,
            days,
            key_label,
        } => {
            let pki = ca.open()?;
            if ca.config.is_some() {
                let issued = pki
                    .init_in_key_store(now_unix(), days, &key_label)
                    .map_err(classify)?;
                println!(
                    "ca: {} (key {key_label:?} in the key store, named in {})",
                    issued.cert_path.display(),
                    issued.key_path.display()
                );
            } else {
                show(pki.init(now_unix(), days).map_err(classify)?);
            }
        }
        Which::Issue { ca, kind } => {
            let (name, profile, days) = profile(&kind)?;
            show(
                ca.open()?
                    .issue(&name, &profile, now_unix(), days)
                    .map_err(classify)?,
            );
        }
        Which::Renew { ca, name, days } => show(
            ca.open()?
                .renew(&name, now_unix(), days)
                .map_err(classify)?,
        ),
        Which::Revoke { ca, name } => {
            let pki = ca.open()?;
            let revoked = pki.revoke(&name, now_unix()).map_err(classify)?;
            println!(
                "{}: serial {} revoked; {} lists {} certificate(s)",
                revoked.name,
                revoked.serial,
                pki.crl_path().display(),
                pki.revocations().map_err(classify)?.len()
            );
        }
        Which::Status { dir } => {
            if !dir.exists() {
                return Err(BadInput(format!("{} not found", dir.display())).into());
            }
            let status = Pki::new(dir).status(now_unix()).map_err(classify)?;
            let mut expiring = 0;
            for s in &status {
                let flag = if s.expiring { "  EXPIRING" } else { "" };
                println!(
                    "{:<24} {:<6} {:>5} days left{flag}",
                    s.name, s.kind, s.days_left
                );
                expiring += usize::from(s.expiring);
            }
            anyhow::ensure!(
                expiring == 0,
                "{expiring} certificate(s) expire within {} days; run `fulgur pki renew`",
                pki::EXPIRY_WARNING_DAYS
            );
        }
    }
    Ok(())
}
