//! Where the CA's private key lives, and the signer rcgen uses over it: `ca.key` (a
//! mode-0600 PEM file, for development), or a P-256 key in the key store (an HSM through
//! PKCS#11), named by label in `ca.keystore`. A key store key never leaves the store:
//! rcgen hands over the bytes to sign, the store signs their SHA-256 digest.

use std::sync::{Arc, Mutex};

use keystore::{KeyKind, KeyStore, KeyStoreError};
use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm, SigningKey, PKCS_ECDSA_P256_SHA256};
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;

use crate::authority::{with_cert, CA_NAME};
use crate::{files, Pki, PkiError};

/// The file that names the key store label of a CA whose key is in the key store.
pub(crate) const KEY_STORE_REF: &str = "ca.keystore";

/// The CA's key, ready to sign.
pub(crate) enum CaSigner {
    File(KeyPair),
    KeyStore(StoreKey),
}

/// A P-256 key in the key store, with its public point (SEC1, uncompressed).
pub(crate) struct StoreKey {
    keys: Arc<dyn KeyStore>,
    label: String,
    point: Vec<u8>,
    /// Why the last signature failed: rcgen's error has no room for the store's.
    failure: Mutex<Option<KeyStoreError>>,
}

impl StoreKey {
    /// Generates the P-256 key `label` in the store for a new CA.
    pub(crate) fn generate(keys: Arc<dyn KeyStore>, label: &str) -> Result<Self, PkiError> {
        keys.generate(label, KeyKind::P256)?;
        Self::open(keys, label)
    }

    fn open(keys: Arc<dyn KeyStore>, label: &str) -> Result<Self, PkiError> {
        let point = keys
            .p256_public_key(label)?
            .to_sec1_point(false)
            .as_bytes()
            .to_vec();
        Ok(Self {
            keys,
            label: label.to_string(),
            point,
            failure: Mutex::new(None),
        })
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }
}

impl PublicKeyData for StoreKey {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for StoreKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let digest: [u8; 32] = Sha256::digest(msg).into();
        match self.keys.p256_sign_digest(&self.label, &digest) {
            Ok(signature) => Ok(signature.to_der().as_bytes().to_vec()),
            Err(e) => {
                *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                Err(rcgen::Error::RemoteKeyError)
            }
        }
    }
}

impl CaSigner {
    /// A signing error as the caller can act on it: the key store's own, if it failed.
    pub(crate) fn explain(&self, error: rcgen::Error) -> PkiError {
        if let (CaSigner::KeyStore(key), rcgen::Error::RemoteKeyError) = (self, &error) {
            if let Some(failure) = key.failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return PkiError::KeyStore(failure);
            }
        }
        PkiError::Generate(error)
    }
}

impl PublicKeyData for CaSigner {
    fn der_bytes(&self) -> &[u8] {
        match self {
            CaSigner::File(key) => key.der_bytes(),
            CaSigner::KeyStore(key) => key.der_bytes(),
        }
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self {
            CaSigner::File(key) => key.algorithm(),
            CaSigner::KeyStore(key) => key.algorithm(),
        }
    }
}

impl SigningKey for CaSigner {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            CaSigner::File(key) => key.sign(msg),
            CaSigner::KeyStore(key) => key.sign(msg),
        }
    }
}

fn public_point<'a>(cert: &'a X509Certificate<'_>) -> &'a [u8] {
    cert.public_key().subject_public_key.data.as_ref()
}

impl Pki {
    fn key_store_ref_path(&self) -> std::path::PathBuf {
        self.dir().join(KEY_STORE_REF)
    }

    /// Whether the CA's key is in the key store (the directory has `ca.keystore`).
    pub fn ca_key_in_key_store(&self) -> bool {
        self.key_store_ref_path().exists()
    }

    /// Records where a new CA's key is: `ca.key` written, or the label in `ca.keystore`.
    pub(crate) fn record_ca_key(
        &self,
        signer: &CaSigner,
        not_after_unix: i64,
        cert_pem: &str,
    ) -> Result<crate::Issued, PkiError> {
        match signer {
            CaSigner::File(key) => self.write(CA_NAME, cert_pem, key, not_after_unix),
            CaSigner::KeyStore(key) => {
                let reference = self.key_store_ref_path();
                files::replace(&reference, &format!("{}\n", key.label()), false)?;
                let cert_path = self.ca_cert_path();
                files::replace(&cert_path, cert_pem, false)?;
                Ok(crate::Issued {
                    name: CA_NAME.to_string(),
                    cert_path,
                    key_path: reference,
                    not_after_unix,
                })
            }
        }
    }

    /// The CA's key, checked against the CA certificate: a key store label that names
    /// another key (or a `ca.key` of another CA) is refused before anything is signed.
    pub(crate) fn ca_signer(&self) -> Result<CaSigner, PkiError> {
        let signer = if self.ca_key_in_key_store() {
            let label = files::read(&self.key_store_ref_path())?.trim().to_string();
            let keys = self.key_store().ok_or_else(|| {
                PkiError::InvalidInput(format!(
                    "the CA's key is in the key store (label {label:?}); open the key store \
                     (--config with its [keys] section)"
                ))
            })?;
            CaSigner::KeyStore(StoreKey::open(keys.clone(), &label)?)
        } else {
            CaSigner::File(KeyPair::from_pem(&files::read(&self.key_path(CA_NAME))?)?)
        };
        let matches = with_cert(&self.ca_cert_path(), |cert| {
            Ok(public_point(cert) == signer.der_bytes())
        })?;
        if !matches {
            return Err(PkiError::BadCertificate {
                path: self.ca_cert_path().display().to_string(),
                reason: "the CA certificate's public key is not the CA key's".into(),
            });
        }
        Ok(signer)
    }
}
