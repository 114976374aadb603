//! The server secret API keys are hashed under. Every replica needs the same one; the HSM
//! issue wraps it with a key-encryption key.

use std::path::Path;

use hmac::{KeyInit, Mac};
use zeroize::Zeroizing;

use crate::AccessError;

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

    /// The pepper in `path`, created (mode 0600) if the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, AccessError> {
        secret_file::load_or_create(path)
            .map(Self)
            .map_err(|e| AccessError::Pepper(e.to_string()))
    }

    /// HMAC-SHA256 of `secret`: fast enough for every request, useless without the pepper.
    pub(crate) fn hash(&self, secret: &[u8]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(self.0.as_slice()).expect("any key length");
        mac.update(secret);
        mac.finalize().into_bytes().into()
    }
}
