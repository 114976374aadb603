//! Where keys live (`[keys]`) and the secrets sealed under them: the key store opened
//! from configuration, the vault over it, and the secrets the service needs at start
//! (node seeds, the API-key pepper), each adopted from a plain file if one is left over
//! from before the vault.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use audit::{CheckpointSigner, Ed25519Signer, KeyStoreSigner, Origin, PublicKey};
use keystore::{KeyStore, Pkcs11Config, Pkcs11Store, SoftwareStore};
use serde::{Deserialize, Serialize};
use vault::{Adopted, FileFormat, Vault};
use zeroize::Zeroizing;

use crate::BadInput;

/// PKCS#11 sessions by default: two reach the token's two-session signing rate.
const DEFAULT_SESSIONS: usize = 2;

/// `[keys]`: the key store. The PIN or passphrase comes from an environment variable or
/// a file (`*_env` or `*_file`, exactly one), never from the configuration itself.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, tag = "backend", rename_all = "lowercase")]
pub enum KeysSection {
    /// Development: keys in one file sealed under a passphrase (created if absent).
    Software {
        path: PathBuf,
        #[serde(skip_serializing_if = "Option::is_none")]
        passphrase_env: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        passphrase_file: Option<PathBuf>,
    },
    /// An HSM through its PKCS#11 module (Thales Luna, Entrust nShield, AWS CloudHSM,
    /// SoftHSM2); the token must be initialised with the vendor's tools.
    Pkcs11 {
        module: PathBuf,
        token_label: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pin_env: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pin_file: Option<PathBuf>,
        /// Sessions in the pool (default 2).
        #[serde(skip_serializing_if = "Option::is_none")]
        sessions: Option<usize>,
    },
}

fn secret_from(
    what: &str,
    env: Option<&str>,
    file: Option<&Path>,
) -> anyhow::Result<Zeroizing<String>> {
    match (env, file) {
        (Some(var), None) => std::env::var(var).map(Zeroizing::new).map_err(|_| {
            BadInput(format!("keys: {what}_env names {var}, which is not set")).into()
        }),
        (None, Some(path)) => {
            let text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| BadInput(format!("keys: {what}_file {}: {e}", path.display())))?,
            );
            Ok(Zeroizing::new(
                text.trim_end_matches(['\n', '\r']).to_string(),
            ))
        }
        _ => Err(BadInput(format!(
            "keys: set exactly one of {what}_env and {what}_file"
        ))
        .into()),
    }
}

impl KeysSection {
    /// Opens the key store; a software key file is created on first use.
    pub fn open(&self) -> anyhow::Result<Arc<dyn KeyStore>> {
        match self {
            KeysSection::Software {
                path,
                passphrase_env,
                passphrase_file,
            } => {
                let passphrase = secret_from(
                    "passphrase",
                    passphrase_env.as_deref(),
                    passphrase_file.as_deref(),
                )?;
                let store = if path.exists() {
                    SoftwareStore::open(path, &passphrase)
                } else {
                    SoftwareStore::create(path, &passphrase)
                };
                Ok(Arc::new(store.map_err(|e| self.refused(e))?))
            }
            KeysSection::Pkcs11 {
                module,
                token_label,
                pin_env,
                pin_file,
                sessions,
            } => {
                let pin = secret_from("pin", pin_env.as_deref(), pin_file.as_deref())?;
                let store = Pkcs11Store::open(&Pkcs11Config {
                    module: module.clone(),
                    token_label: token_label.clone(),
                    pin,
                    sessions: sessions.unwrap_or(DEFAULT_SESSIONS).max(1),
                })
                .map_err(|e| self.refused(e))?;
                Ok(Arc::new(store))
            }
        }
    }

    /// The demo's and benchmarks' key store: a software key file in `dir`, its passphrase
    /// from `FULGUR_KEYS_PASSPHRASE` if set, else from a random passphrase file beside it
    /// (created once, mode 0600) — which protects nothing from a reader of `dir`, hence
    /// development only.
    pub fn local(dir: &Path) -> anyhow::Result<Self> {
        const PASSPHRASE_ENV: &str = "FULGUR_KEYS_PASSPHRASE";
        let path = dir.join("keys.sealed");
        if std::env::var_os(PASSPHRASE_ENV).is_some() {
            return Ok(KeysSection::Software {
                path,
                passphrase_env: Some(PASSPHRASE_ENV.to_string()),
                passphrase_file: None,
            });
        }
        let passphrase_file = dir.join("keys.passphrase");
        secret_file::load_or_create(&passphrase_file)?;
        Ok(KeysSection::Software {
            path,
            passphrase_env: None,
            passphrase_file: Some(passphrase_file),
        })
    }

    /// Why the key store did not open: a wrong PIN or passphrase is the operator's to fix
    /// (one line, exit 2); anything else is an error naming the key store.
    fn refused(&self, e: keystore::KeyStoreError) -> anyhow::Error {
        match e {
            keystore::KeyStoreError::BadPin => BadInput(format!(
                "keys: the PIN or passphrase does not open the {}",
                self.describe()
            ))
            .into(),
            other => anyhow::anyhow!("{}: {other}", self.describe()),
        }
    }

    /// The backend's name and where it is, for operators.
    pub fn describe(&self) -> String {
        match self {
            KeysSection::Software { path, .. } => format!("software key file {}", path.display()),
            KeysSection::Pkcs11 {
                module,
                token_label,
                ..
            } => format!("PKCS#11 token {token_label:?} ({})", module.display()),
        }
    }
}

/// The key store's key that signs audit checkpoints (secp256k1).
pub const AUDIT_CHECKPOINT_KEY: &str = "audit-checkpoint";

/// The HSM approvers of the customer's policy: the operations and the backup key.
pub const APPROVAL_KEYS: [&str; 2] = ["approval-operations", "approval-backup"];

/// The approval policy's HSM keys (generated in `keys` on first use) and their public keys
/// (compressed secp256k1, hex), in [`APPROVAL_KEYS`] order.
pub fn approval_keys(keys: &dyn KeyStore) -> anyhow::Result<Vec<(&'static str, String)>> {
    let mut publics = Vec::new();
    for label in APPROVAL_KEYS {
        let public = match keys.public_key(label) {
            Ok(public) => public,
            Err(keystore::KeyStoreError::UnknownKey(_)) => {
                keys.generate(label, keystore::KeyKind::Secp256k1)?;
                keys.public_key(label)?
            }
            Err(e) => return Err(e.into()),
        };
        publics.push((label, public.to_string()));
    }
    Ok(publics)
}

/// What the service takes from the key store at start: the vault of sealed secrets and
/// the signer of audit checkpoints.
#[derive(Clone)]
pub struct KeyMaterial {
    /// The key store itself: HSM approvers sign with it.
    pub keys: Arc<dyn KeyStore>,
    pub vault: Vault,
    pub checkpoint_signer: Arc<dyn CheckpointSigner>,
    /// What auditors verify checkpoints with (`fulgur audit verify --public-key`).
    pub checkpoint_key: PublicKey,
}

/// Opens the vault over `keys` and the checkpoint signer: an Ed25519 key file if one is
/// given (installations from before the key store keep their verifiable checkpoints),
/// else the key store's `audit-checkpoint` key, generated there on first use.
pub async fn key_material(
    store: &store::Store,
    keys: Arc<dyn KeyStore>,
    audit_key_file: Option<&Path>,
    origin: &Origin,
) -> anyhow::Result<KeyMaterial> {
    let vault = open_vault(store, Arc::clone(&keys), origin).await?;
    let keys_for_signer = Arc::clone(&keys);
    let (checkpoint_signer, checkpoint_key): (Arc<dyn CheckpointSigner>, PublicKey) =
        match audit_key_file {
            Some(path) => {
                let signer = Ed25519Signer::load_or_create(path)?;
                let key = signer.public_key();
                (Arc::new(signer), key)
            }
            None => {
                let signer = tokio::task::spawn_blocking(move || {
                    KeyStoreSigner::open_or_generate(keys, AUDIT_CHECKPOINT_KEY)
                })
                .await??;
                let key = signer.public_key();
                (Arc::new(signer), key)
            }
        };
    Ok(KeyMaterial {
        keys: Arc::clone(&keys_for_signer),
        vault,
        checkpoint_signer,
        checkpoint_key,
    })
}

/// The vault over `keys` in `store`, its KEK created on first use.
pub async fn open_vault(
    store: &store::Store,
    keys: Arc<dyn KeyStore>,
    origin: &Origin,
) -> anyhow::Result<Vault> {
    Vault::open(
        store.clone(),
        keys,
        vault::DEFAULT_KEK_NAME,
        vault::system_clock(),
        origin,
    )
    .await
    .context("vault")
}

/// Node `name`'s 64-byte seed, from the vault: adopted from a `keys_seed` file ldk-node
/// left in `storage_dir` (that file is then removed), else generated on first start.
pub async fn node_seed(
    vault: &Vault,
    name: &str,
    storage_dir: &Path,
    origin: &Origin,
) -> anyhow::Result<Zeroizing<[u8; 64]>> {
    let secret_name = format!("node-seed:{name}");
    let adopted = vault
        .adopt_file(
            &secret_name,
            &storage_dir.join("keys_seed"),
            FileFormat::Raw,
            origin,
        )
        .await
        .with_context(|| format!("node {name}'s seed"))?;
    if adopted == Adopted::Imported {
        tracing::info!(node = name, "node seed moved from keys_seed into the vault");
    }
    let seed = vault
        .get_or_create(&secret_name, 64, origin)
        .await
        .with_context(|| format!("node {name}'s seed"))?;
    let mut bytes = Zeroizing::new([0u8; 64]);
    anyhow::ensure!(seed.len() == 64, "node {name}'s seed is not 64 bytes");
    bytes.copy_from_slice(&seed);
    Ok(bytes)
}

/// The pepper API keys are hashed under, from the vault: adopted from a pepper file left
/// from before the vault (hex; removed once sealed), else generated once.
pub async fn pepper(
    vault: &Vault,
    legacy_file: Option<&Path>,
    origin: &Origin,
) -> anyhow::Result<access::Pepper> {
    const NAME: &str = "api-key-pepper";
    if let Some(path) = legacy_file {
        let adopted = vault
            .adopt_file(NAME, path, FileFormat::Hex, origin)
            .await
            .context("API-key pepper")?;
        if adopted == Adopted::Imported {
            tracing::info!(file = %path.display(), "API-key pepper moved into the vault");
        }
    }
    let secret = vault.get_or_create(NAME, 32, origin).await?;
    let mut bytes = [0u8; 32];
    anyhow::ensure!(secret.len() == 32, "the API-key pepper is not 32 bytes");
    bytes.copy_from_slice(&secret);
    let pepper = access::Pepper::from_bytes(bytes);
    zeroize::Zeroize::zeroize(&mut bytes);
    Ok(pepper)
}
