#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Something the caller can fix; the message says what.
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0} already exists; use renew, or another name")]
    Exists(String),
    #[error("{0} not found; run `fulgur pki init` or `fulgur pki issue` first")]
    Missing(String),
    #[error("certificate {path}: {reason}")]
    BadCertificate { path: String, reason: String },
    /// The key store holding the CA's key refused or failed.
    #[error("the CA's key: {0}")]
    KeyStore(#[from] keystore::KeyStoreError),
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
