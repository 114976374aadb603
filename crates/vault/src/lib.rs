//! `vault`: secrets under envelope encryption, in the store (SPEC §5.5). Each secret (a
//! node seed, the API-key pepper, a webhook secret) is sealed under its own AES-256-GCM
//! data key, and the data key is wrapped by a key-encryption key (KEK) that never leaves
//! the key store (an HSM in production). The store holds only wrapped keys and sealed
//! data; what the secret is bound to (its name) is authenticated with it, so rows cannot
//! be swapped.
//!
//! The KEK is versioned (`NAME.vN`). [`Vault::rotate`] makes a new version current, re-wraps
//! every data key under it (the sealed data is untouched) and then destroys the old
//! versions; readers keep working throughout, because a secret names the version that
//! wraps it and a version is destroyed only once nothing names it. Every step is appended
//! to the audit trail in the transaction that makes it.
//!
//! The crate knows the key store, the store and the audit trail; nothing of payments or
//! HTTP.

mod error;
mod rotation;
mod secrets;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use audit::{Entry, Origin, Outcome};
use keystore::KeyStore;
use store::{Sql, Store, StoreError};

pub use crate::error::VaultError;
pub use crate::rotation::Rotation;
pub use crate::secrets::{Adopted, FileFormat, SecretInfo};

/// The KEK name the service uses unless configured otherwise.
pub const DEFAULT_KEK_NAME: &str = "fulgur-kek";

/// Milliseconds since the Unix epoch; injected so tests control time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    })
}

/// Secrets sealed under one KEK. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    store: Store,
    keys: Arc<dyn KeyStore>,
    kek_name: String,
    clock: Clock,
}

impl Vault {
    /// Opens the vault whose KEK is `kek_name`, creating the KEK's first version (and
    /// recording it, audited) on first use. `KekMissing` if the store names a version
    /// the key store does not hold.
    pub async fn open(
        store: Store,
        keys: Arc<dyn KeyStore>,
        kek_name: &str,
        clock: Clock,
        origin: &Origin,
    ) -> Result<Self, VaultError> {
        let vault = Self {
            store,
            keys,
            kek_name: kek_name.to_string(),
            clock,
        };
        if vault.recorded_kek().await?.is_none() {
            vault.create_kek(origin).await?;
        }
        let current = vault.current_kek().await?;
        let held = vault
            .blocking(|keys, name| keystore::envelope::kek_versions(keys, &name))
            .await?;
        if !held
            .iter()
            .any(|v| format!("{}.v{v}", vault.kek_name) == current)
        {
            return Err(VaultError::KekMissing { label: current });
        }
        Ok(vault)
    }

    pub fn kek_name(&self) -> &str {
        &self.kek_name
    }

    /// The KEK version new secrets are sealed under.
    pub async fn current_kek(&self) -> Result<String, VaultError> {
        self.recorded_kek()
            .await?
            .ok_or_else(|| VaultError::KekMissing {
                label: format!("{}.v1", self.kek_name),
            })
    }

    async fn recorded_kek(&self) -> Result<Option<String>, VaultError> {
        let name = self.kek_name.clone();
        self.store
            .read(move |sql| {
                sql.query_opt(
                    "SELECT current_label FROM vault_keks WHERE name = $1",
                    &[name.into()],
                )?
                .map(|row| row.text("current_label").map(str::to_string))
                .transpose()
                .map_err(VaultError::from)
            })
            .await
    }

    /// Adopts the highest version the key store already holds, else generates v1; two
    /// replicas starting together agree on one.
    async fn create_kek(&self, origin: &Origin) -> Result<(), VaultError> {
        let label = self
            .blocking(
                |keys, name| match keystore::envelope::kek_versions(keys, &name)?.last() {
                    Some(v) => Ok(format!("{name}.v{v}")),
                    None => match keystore::envelope::rotate_kek(keys, &name) {
                        Err(keystore::KeyStoreError::LabelTaken(label)) => Ok(label),
                        other => other,
                    },
                },
            )
            .await?;
        let (name, at_ms, origin) = (self.kek_name.clone(), self.now_ms(), origin.clone());
        self.store
            .write(move |sql| {
                let inserted = sql.execute(
                    "INSERT INTO vault_keks (name, current_label, rotated_at_ms) \
                     VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                    &[name.into(), label.clone().into(), at_ms.into()],
                )?;
                if inserted == 1 {
                    record(sql, at_ms, &origin, "kek.create", &label, None)?;
                }
                Ok::<_, StoreError>(())
            })
            .await?;
        Ok(())
    }

    fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    /// Runs a key-store call off the async runtime (PKCS#11 calls block).
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn KeyStore, String) -> Result<T, keystore::KeyStoreError> + Send + 'static,
    ) -> Result<T, VaultError> {
        let keys = Arc::clone(&self.keys);
        let name = self.kek_name.clone();
        tokio::task::spawn_blocking(move || call(keys.as_ref(), name))
            .await
            .map_err(|e| VaultError::Io(format!("key store call: {e}")))?
            .map_err(VaultError::from)
    }
}

/// Appends an audit record in the caller's transaction.
fn record(
    sql: &mut dyn Sql,
    at_ms: i64,
    origin: &Origin,
    action: &str,
    target: &str,
    details: Option<String>,
) -> Result<(), StoreError> {
    audit::append(
        sql,
        &Entry {
            at_ms,
            origin: origin.clone(),
            tenant_id: None,
            action: action.to_string(),
            target: Some(target.to_string()),
            outcome: Outcome::Success,
            details,
        },
    )
    .map(|_| ())
}
