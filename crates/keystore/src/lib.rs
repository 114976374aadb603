//! `keystore`: where Fulgur's keys live and what may be done with them, behind one
//! trait ([`KeyStore`]): generate, sign (ECDSA over a SHA-256 digest: secp256k1 for
//! approvals and audit checkpoints, P-256 for the internal CA's certificates), wrap and
//! unwrap data keys (AES-256-GCM under a key-encryption key), HMAC-SHA256, destroy. Keys
//! are named by label and never leave the store; callers get public keys, signatures,
//! wrapped bytes and MACs.
//!
//! Backends: [`Pkcs11Store`] over any PKCS#11 module (Thales Luna, Entrust nShield, AWS
//! CloudHSM, SoftHSM2 in tests): keys are generated inside the token, sensitive and not
//! extractable. Calls block on the module: async callers use `spawn_blocking`.
//! [`SoftwareStore`] for development: keys in a file sealed under a passphrase
//! (Argon2id, AES-256-GCM), zeroized in memory.
//!
//! This crate knows nothing of payments, HTTP or the store.

mod ec;
pub mod envelope;
mod error;
mod gcm;
mod message;
mod pkcs11;
mod software;
#[cfg(feature = "testing")]
pub mod testing;

pub use crate::error::KeyStoreError;
pub use crate::message::{sign_message, verify_message};
pub use crate::pkcs11::{Pkcs11Config, Pkcs11Store};
pub use crate::software::SoftwareStore;
pub use p256;
pub use secp256k1;

use zeroize::Zeroizing;

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
pub enum KeyKind {
    /// secp256k1, for ECDSA signatures (approvals, audit checkpoints).
    #[strum(serialize = "secp256k1")]
    Secp256k1,
    /// AES-256, a key-encryption key for data keys (AES-256-GCM).
    #[strum(serialize = "aes256")]
    Aes256,
    /// A 256-bit generic secret for HMAC-SHA256.
    #[strum(serialize = "hmac-sha256")]
    HmacSha256,
    /// NIST P-256, for ECDSA signatures that X.509 verifiers check (the internal CA).
    #[strum(serialize = "p256")]
    P256,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How a key is protected, as the store reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protection {
    /// The key's value is never revealed in clear.
    pub sensitive: bool,
    /// The key may be exported (wrapped out) at all.
    pub extractable: bool,
    /// The key was never extractable since it was generated.
    pub never_extractable: bool,
    /// Asking the store for the key's value returned it.
    pub value_readable: bool,
}

/// A key the store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub label: String,
    pub kind: KeyKind,
}

/// The operations on keys held by a store. Labels are unique per store.
pub trait KeyStore: Send + Sync {
    /// Generates a key inside the store; `LabelTaken` if the label is in use.
    fn generate(&self, label: &str, kind: KeyKind) -> Result<(), KeyStoreError>;
    /// The keys held, by label.
    fn list(&self) -> Result<Vec<KeyInfo>, KeyStoreError>;
    /// The public key of a secp256k1 key.
    fn public_key(&self, label: &str) -> Result<secp256k1::PublicKey, KeyStoreError>;
    /// Signs a 32-byte digest; the signature is normalised to low S.
    fn sign_digest(
        &self,
        label: &str,
        digest: &[u8; 32],
    ) -> Result<secp256k1::ecdsa::Signature, KeyStoreError>;
    /// The public key of a P-256 key.
    fn p256_public_key(&self, label: &str) -> Result<p256::ecdsa::VerifyingKey, KeyStoreError>;
    /// Signs a 32-byte SHA-256 digest with a P-256 key (ECDSA).
    fn p256_sign_digest(
        &self,
        label: &str,
        digest: &[u8; 32],
    ) -> Result<p256::ecdsa::Signature, KeyStoreError>;
    /// Encrypts `plaintext` (a data key) under the AES key `kek`: nonce ‖ ciphertext ‖ tag,
    /// with `aad` authenticated.
    fn wrap(&self, kek: &str, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyStoreError>;
    /// Decrypts what [`KeyStore::wrap`] produced; any tampering is `Unauthentic`.
    fn unwrap(
        &self,
        kek: &str,
        wrapped: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyStoreError>;
    /// HMAC-SHA256 of `data` under the key `label`.
    fn hmac(&self, label: &str, data: &[u8]) -> Result<[u8; 32], KeyStoreError>;
    /// How the private or secret key is protected (a read of its value is attempted).
    fn protection(&self, label: &str) -> Result<Protection, KeyStoreError>;
    /// Destroys the key; what it wrapped can no longer be unwrapped.
    fn destroy(&self, label: &str) -> Result<(), KeyStoreError>;
}

/// Labels: 1 to 64 characters of a-z, 0-9, '.', '_', '-'.
pub(crate) fn check_label(label: &str) -> Result<(), KeyStoreError> {
    let ok = (1..=64).contains(&label.len())
        && label.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(KeyStoreError::InvalidLabel(label.to_string()))
    }
}

/// Wrapped data is nonce ‖ ciphertext ‖ tag (AES-256-GCM, 96-bit nonce, 128-bit tag).
pub(crate) const NONCE_BYTES: usize = 12;
pub(crate) const TAG_BYTES: usize = 16;
/// Largest plaintext wrapped (data keys are 32 bytes; node seeds 64).
const MAX_WRAP_BYTES: usize = 4096;

pub(crate) fn check_wrap_input(plaintext: &[u8]) -> Result<(), KeyStoreError> {
    if plaintext.is_empty() || plaintext.len() > MAX_WRAP_BYTES {
        return Err(KeyStoreError::Backend(format!(
            "wrap 1 to {MAX_WRAP_BYTES} bytes, not {}",
            plaintext.len()
        )));
    }
    Ok(())
}

/// Too short to hold a nonce, a byte and a tag: not something `wrap` produced.
pub(crate) fn check_wrapped(wrapped: &[u8]) -> Result<(), KeyStoreError> {
    if wrapped.len() <= NONCE_BYTES + TAG_BYTES {
        return Err(KeyStoreError::Unauthentic);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::KeyKind;

    #[test]
    fn key_kinds_round_trip() {
        for kind in [
            KeyKind::Secp256k1,
            KeyKind::Aes256,
            KeyKind::HmacSha256,
            KeyKind::P256,
        ] {
            assert_eq!(kind.as_str().parse().ok(), Some(kind));
        }
        assert!("rsa2048".parse::<KeyKind>().is_err());
    }
}
