//! Signed checkpoints: the chain's head (sequence number and hash) signed by a key the
//! database does not hold, so that rewriting the whole chain after a record is detected
//! at the next checkpoint. Signers: a secp256k1 key in the key store (an HSM in
//! production; ECDSA over SHA-256, compact low-S signatures), or an Ed25519 key in a file
//! (installations from before the key store, whose checkpoints it keeps verifiable).

use std::path::Path;
use std::sync::Arc;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use keystore::{secp256k1, KeyKind, KeyStore, KeyStoreError};
use sha2::{Digest, Sha256};
use store::Store;

use crate::chain::read_head;
use crate::AuditError;

const DOMAIN: &[u8] = b"fulgur-audit-checkpoint-v1";

/// Signs checkpoints.
pub trait CheckpointSigner: Send + Sync {
    /// Names the key, so that verification can tell which key signed.
    fn key_id(&self) -> String;
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AuditError>;
}

/// A secp256k1 key held by the key store: the private key never reaches this process.
pub struct KeyStoreSigner {
    keys: Arc<dyn KeyStore>,
    label: String,
    public: PublicKey,
}

impl KeyStoreSigner {
    /// The key store's key `label`, generated there (secp256k1) if absent.
    pub fn open_or_generate(keys: Arc<dyn KeyStore>, label: &str) -> Result<Self, AuditError> {
        let key_error = |e: KeyStoreError| AuditError::Key(format!("{label}: {e}"));
        let public = match keys.public_key(label) {
            Ok(public) => public,
            Err(KeyStoreError::UnknownKey(_)) => {
                keys.generate(label, KeyKind::Secp256k1)
                    .map_err(key_error)?;
                keys.public_key(label).map_err(key_error)?
            }
            Err(e) => return Err(key_error(e)),
        };
        Ok(Self {
            keys,
            label: label.to_string(),
            public: PublicKey::Secp256k1(public),
        })
    }

    pub fn public_key(&self) -> PublicKey {
        self.public
    }
}

impl CheckpointSigner for KeyStoreSigner {
    fn key_id(&self) -> String {
        self.public.key_id()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AuditError> {
        keystore::sign_message(self.keys.as_ref(), &self.label, message)
            .map(|signature| signature.to_vec())
            .map_err(|e| AuditError::Key(format!("{}: {e}", self.label)))
    }
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
        PublicKey::Ed25519(self.key.verifying_key())
    }
}

impl CheckpointSigner for Ed25519Signer {
    fn key_id(&self) -> String {
        self.public_key().key_id()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AuditError> {
        Ok(self.key.sign(message).to_bytes().to_vec())
    }
}

/// The key checkpoints are verified against, given out of band (never read from the
/// database the checkpoints are in): hex, 64 characters for Ed25519, 66 for a compressed
/// secp256k1 key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKey {
    Ed25519(VerifyingKey),
    Secp256k1(secp256k1::PublicKey),
}

impl PublicKey {
    pub fn from_hex(text: &str) -> Result<Self, AuditError> {
        let invalid = |detail: String| AuditError::InvalidPublicKey(detail);
        let bytes = hex::decode(text.trim()).map_err(|_| invalid("not hex".into()))?;
        match bytes.len() {
            32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                VerifyingKey::from_bytes(&key)
                    .map(Self::Ed25519)
                    .map_err(|e| invalid(e.to_string()))
            }
            33 => secp256k1::PublicKey::from_slice(&bytes)
                .map(Self::Secp256k1)
                .map_err(|e| invalid(e.to_string())),
            _ => Err(invalid(
                "64 hex characters (Ed25519) or 66 (compressed secp256k1)".into(),
            )),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            PublicKey::Ed25519(key) => key.as_bytes().to_vec(),
            PublicKey::Secp256k1(key) => key.serialize().to_vec(),
        }
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes())
    }

    /// The first 8 bytes of the key's SHA-256, in hex.
    pub fn key_id(&self) -> String {
        hex::encode(&Sha256::digest(self.bytes())[..8])
    }

    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::Ed25519(key) => {
                Signature::from_slice(signature).is_ok_and(|sig| key.verify(message, &sig).is_ok())
            }
            PublicKey::Secp256k1(key) => keystore::verify_message(key, message, signature),
        }
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
            let signature = signer.sign(&message(head.seq, &head.hash, now_ms))?;
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
