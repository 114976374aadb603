#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("signing key: {0}")]
    Key(String),
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),
}
