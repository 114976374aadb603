//! `fulgur audit verify|export`: check the audit chain and its signed checkpoints against
//! a key given out of band, and export the records as JSON lines for auditors.

use std::io::Write;
use std::path::PathBuf;

use audit::{AuditFilter, Ed25519Signer, PublicKey};

use anyhow::Context;

use crate::BadInput;

#[derive(clap::Subcommand)]
pub enum Which {
    /// Recompute the chain and check every checkpoint; exit 1 naming the first bad record.
    Verify {
        #[arg(long, env = "FULGUR_STORE__URL")]
        store_url: String,
        /// The checkpoint key's public half, hex (what auditors keep); wins over the
        /// signing key file.
        #[arg(long)]
        public_key: Option<String>,
        /// Or an Ed25519 signing key file, whose public half is derived.
        #[arg(long, env = "FULGUR_SERVER__AUDIT_SIGNING_KEY_FILE")]
        signing_key_file: Option<PathBuf>,
        /// Or the service's config: the public half of its key store's checkpoint key.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write the records as JSON lines (to --out, else stdout).
    Export {
        #[arg(long, env = "FULGUR_STORE__URL")]
        store_url: String,
        #[arg(long)]
        out: Option<PathBuf>,
        /// Only records after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
}

async fn open(url: &str) -> anyhow::Result<store::Store> {
    let store = store::Store::open(&store::StoreConfig::new(url)).await?;
    store.require_current_schema().await?;
    Ok(store)
}

pub async fn run(which: Which) -> anyhow::Result<()> {
    match which {
        Which::Verify {
            store_url,
            public_key,
            signing_key_file,
            config,
        } => {
            let key = match (public_key, signing_key_file, config) {
                (Some(hex), _, _) => {
                    PublicKey::from_hex(&hex).map_err(|e| BadInput(e.to_string()))?
                }
                (None, _, Some(config)) => {
                    let keys = crate::serve::ToolConfig::load(&config)?.keys.open()?;
                    let label = crate::key_setup::AUDIT_CHECKPOINT_KEY;
                    PublicKey::Secp256k1(
                        keys.public_key(label)
                            .with_context(|| format!("the key store's {label} key"))?,
                    )
                }
                (None, Some(path), None) => {
                    anyhow::ensure!(
                        path.exists(),
                        BadInput(format!("{} not found", path.display()))
                    );
                    Ed25519Signer::load_or_create(&path)?.public_key()
                }
                (None, None, None) => {
                    return Err(BadInput(
                        "give --public-key, --config or --signing-key-file".into(),
                    )
                    .into())
                }
            };
            let store = open(&store_url).await?;
            let verified = audit::verify(&store, &key).await?;
            match verified.first_bad {
                None => println!(
                    "audit trail intact: {} records, {} signed checkpoints, head at {}",
                    verified.records, verified.checkpoints, verified.head_seq
                ),
                Some(tamper) => {
                    println!("audit trail BROKEN: {tamper}");
                    std::process::exit(1);
                }
            }
        }
        Which::Export {
            store_url,
            out,
            after,
        } => {
            let store = open(&store_url).await?;
            let mut sink: Box<dyn Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let (mut after_seq, mut written) = (after, 0u64);
            loop {
                let filter = AuditFilter {
                    tenant_id: None,
                    after_seq,
                    limit: 1_000,
                };
                let page = audit::list(&store, filter).await?;
                let Some(last) = page.last() else { break };
                after_seq = last.seq;
                for record in &page {
                    serde_json::to_writer(&mut sink, record)?;
                    sink.write_all(b"\n")?;
                    written += 1;
                }
            }
            sink.flush()?;
            if let Some(path) = out {
                eprintln!("exported {written} records to {}", path.display());
            }
        }
    }
    Ok(())
}
