use keystore::KeyStoreError;
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("key store: {0}")]
    KeyStore(#[from] KeyStoreError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The store records a KEK version the key store does not hold: the service is
    /// pointed at the wrong key store (or token), or the key was destroyed outside Fulgur.
    #[error("the key store holds no {label}, the vault's current key-encryption key: wrong key store or token?")]
    KekMissing { label: String },
    /// A secret file being adopted differs from the secret the vault already holds.
    #[error("{path} differs from the vault's secret {name}: resolve by hand, nothing was changed")]
    Conflict { name: String, path: String },
    #[error("secret names are 1 to 128 characters of a-z, 0-9, '.', '_', '-', ':', not {0:?}")]
    InvalidName(String),
    /// Sealing kept losing the race against rotations.
    #[error("the key-encryption key kept changing while sealing {0}; retry")]
    Contended(String),
    #[error("{0}")]
    Io(String),
}
