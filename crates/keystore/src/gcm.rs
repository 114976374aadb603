//! AES-256-GCM in this process (the software store's keys, envelope data keys):
//! nonce ‖ ciphertext ‖ tag, a fresh random 96-bit nonce per seal.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use crate::{check_wrapped, KeyStoreError, NONCE_BYTES};

fn cipher(key: &[u8; 32]) -> Result<Aes256Gcm, KeyStoreError> {
    Aes256Gcm::new_from_slice(key).map_err(|e| KeyStoreError::Backend(e.to_string()))
}

pub(crate) fn seal(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce).map_err(|e| KeyStoreError::Backend(format!("randomness: {e}")))?;
    let sealed = cipher(key)?
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| KeyStoreError::Backend("AES-GCM encryption failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Any failure to decrypt (wrong key, wrong `aad`, tampered bytes) is `Unauthentic`.
pub(crate) fn open(
    key: &[u8; 32],
    sealed: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    check_wrapped(sealed)?;
    let (nonce, body) = sealed.split_at(NONCE_BYTES);
    cipher(key)?
        .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad })
        .map(Zeroizing::new)
        .map_err(|_| KeyStoreError::Unauthentic)
}
