//! Approvers and their keys: a person's own Ed25519 or secp256k1 key, registered to the
//! credential they sign in with, or one of Fulgur's HSM keys, which signs by itself.

use ed25519_dalek::Verifier;
use keystore::secp256k1;
use serde::{Deserialize, Serialize};

use crate::ApprovalError;

/// A public key, hex: 64 characters for Ed25519, 66 for compressed secp256k1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ApproverKey {
    Ed25519(String),
    Secp256k1(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approver {
    /// Stable id, used in groups: `ceo`, `hsm-operations`.
    pub id: String,
    pub name: String,
    /// The credential the person signs in with (an API key id, `oidc:ISSUER#SUB`,
    /// `cert:SERIAL`): what the initiator check compares. Absent for HSM keys.
    pub identity: Option<String>,
    pub key: ApproverKey,
    /// Set for Fulgur's own keys: the key store label that signs for this approver.
    pub hsm_label: Option<String>,
}

fn decode(text: &str, len: usize) -> Result<Vec<u8>, ApprovalError> {
    let bytes =
        hex::decode(text).map_err(|_| ApprovalError::InvalidKey(format!("{text:?} is not hex")))?;
    if bytes.len() != len {
        return Err(ApprovalError::InvalidKey(format!(
            "{} bytes, not {len}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

impl ApproverKey {
    pub fn validate(&self) -> Result<(), ApprovalError> {
        match self {
            ApproverKey::Ed25519(hex) => {
                let bytes: [u8; 32] = decode(hex, 32)?
                    .try_into()
                    .map_err(|_| ApprovalError::InvalidKey("32 bytes".into()))?;
                ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                    .map(|_| ())
                    .map_err(|e| ApprovalError::InvalidKey(e.to_string()))
            }
            ApproverKey::Secp256k1(hex) => secp256k1::PublicKey::from_slice(&decode(hex, 33)?)
                .map(|_| ())
                .map_err(|e| ApprovalError::InvalidKey(e.to_string())),
        }
    }

    /// Whether `signature_hex` signs `message`: Ed25519 over the message itself; secp256k1
    /// ECDSA over its SHA-256, a 64-byte compact low-S signature.
    pub fn verifies(&self, message: &[u8], signature_hex: &str) -> bool {
        let Ok(signature) = hex::decode(signature_hex) else {
            return false;
        };
        match self {
            ApproverKey::Ed25519(hex) => {
                let Ok(Ok(bytes)) = decode(hex, 32).map(<[u8; 32]>::try_from) else {
                    return false;
                };
                let (Ok(key), Ok(sig)) = (
                    ed25519_dalek::VerifyingKey::from_bytes(&bytes),
                    ed25519_dalek::Signature::from_slice(&signature),
                ) else {
                    return false;
                };
                key.verify(message, &sig).is_ok()
            }
            ApproverKey::Secp256k1(hex) => decode(hex, 33)
                .ok()
                .and_then(|b| secp256k1::PublicKey::from_slice(&b).ok())
                .is_some_and(|key| keystore::verify_message(&key, message, &signature)),
        }
    }
}

impl Approver {
    pub fn is_hsm(&self) -> bool {
        self.hsm_label.is_some()
    }

    pub fn validate(&self) -> Result<(), ApprovalError> {
        let ok_id = (1..=64).contains(&self.id.len())
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok_id {
            return Err(ApprovalError::InvalidPolicy(format!(
                "approver id {:?}: 1 to 64 of a-z, 0-9, '-'",
                self.id
            )));
        }
        if self.is_hsm() == self.identity.is_some() {
            return Err(ApprovalError::InvalidPolicy(format!(
                "approver {}: a person has an identity, an HSM key a key store label",
                self.id
            )));
        }
        if self.is_hsm() && !matches!(self.key, ApproverKey::Secp256k1(_)) {
            return Err(ApprovalError::InvalidPolicy(format!(
                "approver {}: HSM keys are secp256k1",
                self.id
            )));
        }
        self.key.validate()
    }
}
