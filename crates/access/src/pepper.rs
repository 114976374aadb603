//! The server secret API keys are hashed under. Every replica needs the same one: it is
//! sealed in the vault, under a key-encryption key in the key store.

use hmac::{KeyInit, Mac};
use zeroize::Zeroizing;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

#[derive(Clone)]
pub struct Pepper(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pepper(redacted)")
    }
}

impl Pepper {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// HMAC-SHA256 of `secret`: fast enough for every request, useless without the pepper.
    pub(crate) fn hash(&self, secret: &[u8]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(self.0.as_slice()).expect("any key length");
        mac.update(secret);
        mac.finalize().into_bytes().into()
    }
}
