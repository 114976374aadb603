//! Errors a caller can act on.

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("no key labelled {0:?}")]
    UnknownKey(String),
    #[error("a key labelled {0:?} exists already")]
    LabelTaken(String),
    #[error("key {label:?} is a {actual} key, not {wanted}")]
    WrongKind {
        label: String,
        actual: &'static str,
        wanted: &'static str,
    },
    #[error("invalid label {0:?}: 1 to 64 characters of a-z, 0-9, '.', '_', '-'")]
    InvalidLabel(String),
    /// Decryption failed: wrong key, wrong associated data, or tampered bytes.
    #[error("the wrapped data is not authentic under this key")]
    Unauthentic,
    #[error("the token {0:?} was not found in the module")]
    NoToken(String),
    #[error("the PIN was refused")]
    BadPin,
    #[error("the key store failed: {0}")]
    Backend(String),
}
