//! Signing messages rather than digests, in the one convention Fulgur uses everywhere
//! (audit checkpoints, approvals): ECDSA secp256k1 over the message's SHA-256, as a
//! 64-byte compact low-S signature.

use sha2::{Digest, Sha256};

use crate::{KeyStore, KeyStoreError};

/// Signs `message` with the store's secp256k1 key `label`.
pub fn sign_message(
    store: &dyn KeyStore,
    label: &str,
    message: &[u8],
) -> Result<[u8; 64], KeyStoreError> {
    let digest: [u8; 32] = Sha256::digest(message).into();
    Ok(store.sign_digest(label, &digest)?.serialize_compact())
}

/// Whether `signature` (compact) signs `message` under `key`.
pub fn verify_message(key: &secp256k1::PublicKey, message: &[u8], signature: &[u8]) -> bool {
    let digest: [u8; 32] = Sha256::digest(message).into();
    secp256k1::ecdsa::Signature::from_compact(signature).is_ok_and(|sig| {
        secp256k1::SECP256K1
            .verify_ecdsa(&secp256k1::Message::from_digest(digest), &sig, key)
            .is_ok()
    })
}
