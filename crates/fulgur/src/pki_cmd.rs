//! `fulgur pki init|issue|renew|revoke|status`: the internal CA on disk (see the `pki`
//! crate). A running server rereads renewed certificates and the revocation list by itself.

use std::net::IpAddr;
use std::path::PathBuf;

use access::Role;
use pki::{Pki, PkiError, Profile, DEFAULT_CA_VALIDITY_DAYS, DEFAULT_VALIDITY_DAYS};

use crate::BadInput;

#[derive(clap::Subcommand)]
pub enum Which {
    /// Create the CA (ca.crt, ca.key) in --dir; refuses if one exists.
    Init {
        #[arg(long, env = "FULGUR_PKI_DIR")]
        dir: PathBuf,
        #[arg(long, default_value_t = DEFAULT_CA_VALIDITY_DAYS)]
        days: u32,
    },
    /// Issue NAME.crt and NAME.key, signed by the CA.
    Issue {
        #[arg(long, env = "FULGUR_PKI_DIR")]
        dir: PathBuf,
        #[command(subcommand)]
        kind: Kind,
    },
    /// Reissue NAME with a fresh key and the same identity.
    Renew {
        #[arg(long, env = "FULGUR_PKI_DIR")]
        dir: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = DEFAULT_VALIDITY_DAYS)]
        days: u32,
    },
    /// Revoke NAME's current certificate: added to the CA's revocation list (ca.crl),
    /// which a running server rereads and checks at every handshake.
    Revoke {
        #[arg(long, env = "FULGUR_PKI_DIR")]
        dir: PathBuf,
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
        PkiError::InvalidInput(_) | PkiError::Exists(_) | PkiError::Missing(_) => {
            BadInput(error.to_string()).into()
        }
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
        Which::Init { dir, days } => show(Pki::new(dir).init(now_unix(), days).map_err(classify)?),
        Which::Issue { dir, kind } => {
            let (name, profile, days) = profile(&kind)?;
            show(
                Pki::new(dir)
                    .issue(&name, &profile, now_unix(), days)
                    .map_err(classify)?,
            );
        }
        Which::Renew { dir, name, days } => show(
            Pki::new(dir)
                .renew(&name, now_unix(), days)
                .map_err(classify)?,
        ),
        Which::Revoke { dir, name } => {
            let pki = Pki::new(dir);
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
