//! `fulgur approvals keygen|list|approve|reject`: an approver's client. `keygen` makes an
//! Ed25519 key (the seed in a mode-0600 file, the public key printed for the policy);
//! `approve` and `reject` fetch the exact text the gateway wants signed, sign it locally
//! (the key never leaves this machine) and send the signature.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::remote::{get_json, post_json};
use crate::BadInput;

#[derive(clap::Args)]
pub struct Gateway {
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// File holding the approver's API key (approver role).
    #[arg(long)]
    key_file: PathBuf,
}

#[derive(clap::Args)]
pub struct ApproverKey {
    /// The approver's id in the policy.
    #[arg(long)]
    approver: String,
    /// The approver's Ed25519 seed (64 hex characters, from `fulgur approvals keygen`).
    #[arg(long)]
    signing_key_file: PathBuf,
}

#[derive(clap::Subcommand)]
pub enum Which {
    /// Make an approver key: the seed into FILE (mode 0600), the public key printed.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// The approvals queue.
    List {
        #[command(flatten)]
        gateway: Gateway,
        /// pending, approved, rejected or expired.
        #[arg(long, default_value = "pending")]
        state: String,
    },
    /// Approve a held payment or recovery with your key.
    Approve {
        #[command(flatten)]
        gateway: Gateway,
        #[command(flatten)]
        signer: ApproverKey,
        /// The payment's or recovery's id.
        payment_id: String,
    },
    /// Reject a held payment (its hold is released) or recovery with your key.
    Reject {
        #[command(flatten)]
        gateway: Gateway,
        #[command(flatten)]
        signer: ApproverKey,
        /// The payment's or recovery's id.
        payment_id: String,
    },
}

fn signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| BadInput(format!("{}: {e}", path.display())))?,
    );
    let mut seed = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), seed.as_mut_slice()).map_err(|_| {
        BadInput(format!(
            "{} does not hold 64 hex characters (an Ed25519 seed)",
            path.display()
        ))
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

fn print_request(request: &Value) {
    println!(
        "{}  {} {}  {}  rule={} (policy v{})  {} EUR cents  initiator={}  expires {}  votes: {}",
        request["payment_id"].as_str().unwrap_or("?"),
        request["intent"]["operation"].as_str().unwrap_or("?"),
        request["intent"]["subject"].as_str().unwrap_or(""),
        request["state"].as_str().unwrap_or("?"),
        request["rule"].as_str().unwrap_or("?"),
        request["policy_version"],
        request["eur_cents"],
        request["initiator"].as_str().unwrap_or("?"),
        request["expires_at"].as_str().unwrap_or("?"),
        request["votes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| format!(
                "{} {}",
                v["approver_id"].as_str().unwrap_or("?"),
                v["vote"].as_str().unwrap_or("?")
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

async fn vote(
    gateway: &Gateway,
    signer: &ApproverKey,
    payment_id: &str,
    decision: &str,
) -> anyhow::Result<()> {
    let key = signing_key(&signer.signing_key_file)?;
    let request = get_json(
        &gateway.url,
        &gateway.key_file,
        &format!("/v1/approvals/{payment_id}"),
    )
    .await?;
    let text = request[format!("{decision}_message")]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the gateway gave no text to sign"))?;
    let signature = hex::encode(key.sign(text.as_bytes()).to_bytes());
    let decided = post_json(
        &gateway.url,
        &gateway.key_file,
        &format!("/v1/approvals/{payment_id}/{decision}"),
        &json!({"approver_id": signer.approver, "signature": signature}),
    )
    .await?;
    print_request(&decided);
    Ok(())
}

pub async fn run(which: Which) -> anyhow::Result<()> {
    match which {
        Which::Keygen { out } => {
            if out.exists() {
                return Err(BadInput(format!("{} exists: not overwritten", out.display())).into());
            }
            let seed = secret_file::load_or_create(&out)?;
            let key = SigningKey::from_bytes(&seed);
            println!(
                "approver key written to {}; public key (ed25519): {}",
                out.display(),
                hex::encode(key.verifying_key().as_bytes())
            );
        }
        Which::List { gateway, state } => {
            let page = get_json(
                &gateway.url,
                &gateway.key_file,
                &format!("/v1/approvals?state={state}"),
            )
            .await?;
            for request in page["data"].as_array().into_iter().flatten() {
                print_request(request);
            }
        }
        Which::Approve {
            gateway,
            signer,
            payment_id,
        } => vote(&gateway, &signer, &payment_id, "approve").await?,
        Which::Reject {
            gateway,
            signer,
            payment_id,
        } => vote(&gateway, &signer, &payment_id, "reject").await?,
    }
    Ok(())
}
