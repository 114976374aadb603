//! A vault for other crates' tests, over one software key store per test process (in a
//! temporary directory left for the OS to clean): every store a test opens a vault on
//! finds the KEK there, as replicas sharing a key store do.

use std::sync::{Arc, OnceLock};

use audit::Origin;
use keystore::{KeyStore, SoftwareStore};
use store::Store;

use crate::{Vault, VaultError};

fn shared_keys() -> Result<Arc<dyn KeyStore>, VaultError> {
    static KEYS: OnceLock<Arc<dyn KeyStore>> = OnceLock::new();
    if let Some(keys) = KEYS.get() {
        return Ok(Arc::clone(keys));
    }
    let dir = tempfile::tempdir()
        .map_err(|e| VaultError::Io(e.to_string()))?
        .keep();
    let keys: Arc<dyn KeyStore> = Arc::new(SoftwareStore::create(
        &dir.join("keys.sealed"),
        "test vault",
    )?);
    Ok(Arc::clone(KEYS.get_or_init(|| keys)))
}

/// A vault over `store` with the process's test key store.
pub async fn software_vault(store: &Store) -> Result<Vault, VaultError> {
    Vault::open(
        store.clone(),
        shared_keys()?,
        crate::DEFAULT_KEK_NAME,
        crate::system_clock(),
        &Origin::system("test"),
    )
    .await
}
