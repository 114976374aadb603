//! Signed checkpoints: the chain's head (sequence number and hash) signed by a key the
//! database does not hold, so that rewriting the whole chain after a record is detected
//! at the next checkpoint. Ed25519 in a key file for now; the HSM issue adds a signer
//! backed by the key store behind the same trait.

use std::path::Path;
use std::sync::Arc;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use store::Store;

use crate::chain::read_head;
use crate::AuditError;

const DOMAIN: &[u8] = b"fulgur-audit-checkpoint-v1";

/// Signs checkpoints.
pub trait CheckpointSigner: Send + Sync {
    /// Names the key, so that verification can tell which key signed.
    fn key_id(&self) -> String;
    fn sign(&self, message: &[u8]) -> Vec<u8>;
}

/// An Ed25519 key whose 32-byte seed lives in a file (hex, mode 0600). The seed is
/// zeroized when the signer is dropped.
pub struct Ed25519Signer {
    key: SigningKey,
}

impl Ed25519Signer {
    /// Loads the key in `path`, creating it (mode 0600) if the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, AuditError> {
        let seed = secret_file::load_or_create(path).map_err(|e| AuditError::Key(e.to_string()))?;
        Ok(Self {
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }
}

impl CheckpointSigner for Ed25519Signer {
    fn key_id(&self) -> String {
        self.public_key().key_id()
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message).to_bytes().to_vec()
    }
}

/// The key checkpoints are verified against, given out of band (never read from the
/// database the checkpoints are in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub fn from_hex(text: &str) -> Result<Self, AuditError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes)
            .map_err(|_| AuditError::InvalidPublicKey("not 64 hex characters".into()))?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|e| AuditError::InvalidPublicKey(e.to_string()))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// The first 8 bytes of the key's SHA-256, in hex.
    pub fn key_id(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..8])
    }

    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        Signature::from_slice(signature).is_ok_and(|sig| self.0.verify(message, &sig).is_ok())
    }
}

pub(crate) fn message(seq: i64, hash: &[u8], at_ms: i64) -> Vec<u8> {
    let mut message = Vec::with_capacity(DOMAIN.len() + 48);
    message.extend_from_slice(DOMAIN);
    message.extend_from_slice(&seq.to_be_bytes());
    message.extend_from_slice(hash);
    message.extend_from_slice(&at_ms.to_be_bytes());
    message
}

/// Signs the chain's head unless it is already signed; returns the sequence number signed.
pub async fn checkpoint(
    store: &Store,
    signer: Arc<dyn CheckpointSigner>,
    now_ms: i64,
) -> Result<Option<i64>, AuditError> {
    store
        .write(move |sql| {
            let head = read_head(sql)?;
            if head.seq == 0 {
                return Ok(None);
            }
            let signature = signer.sign(&message(head.seq, &head.hash, now_ms));
            let inserted = sql.execute(
                "INSERT INTO audit_checkpoints (seq, hash, at_ms, key_id, signature) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
                &[
                    head.seq.into(),
                    head.hash.to_vec().into(),
                    now_ms.into(),
                    signer.key_id().into(),
                    signature.into(),
                ],
            )?;
            Ok((inserted == 1).then_some(head.seq))
        })
        .await
}
