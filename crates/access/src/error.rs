#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A field the caller can fix: the message says which and why.
    #[error("{0}")]
    InvalidInput(String),
    #[error("no such API key")]
    NotFound,
    /// The caller may not do this (beyond what its scopes say).
    #[error("{0}")]
    Forbidden(String),
    #[error("no such tenant")]
    UnknownTenant,
    /// The key is already revoked or rotated out.
    #[error("{0}")]
    Conflict(String),
}
