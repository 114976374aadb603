//! The software backend, for development: keys in one file, encrypted under a passphrase
//! (Argon2id → AES-256-GCM), held in memory as zeroized secrets. Every change rewrites
//! the file (a temporary file, fsynced, renamed over the old, mode 0600). Not for
//! production money: a process dump holds the keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::{ec, gcm, KeyInfo, KeyKind, KeyStore, KeyStoreError, Protection, NONCE_BYTES};

/// Argon2id cost: 64 MiB, 3 passes (OWASP's first recommendation).
const ARGON2_MEMORY_KIB: u32 = 64 * 1024;
const ARGON2_PASSES: u32 = 3;

/// The file: KDF parameters and the sealed key set.
#[derive(Serialize, Deserialize)]
struct SealedFile {
    version: u32,
    kdf: String,
    memory_kib: u32,
    passes: u32,
    salt: String,
    nonce: String,
    sealed: String,
}

/// One key in the sealed set; its hex secret is wiped when dropped.
#[derive(Serialize, Deserialize)]
struct StoredKey {
    kind: String,
    secret: String,
}

impl Drop for StoredKey {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

struct Key {
    kind: KeyKind,
    secret: Zeroizing<[u8; 32]>,
}

pub struct SoftwareStore {
    path: PathBuf,
    /// The key derived from the passphrase, kept to reseal on every change.
    file_key: Zeroizing<[u8; 32]>,
    salt: [u8; 16],
    keys: RwLock<BTreeMap<String, Key>>,
}

fn random<const N: usize>() -> Result<[u8; N], KeyStoreError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| KeyStoreError::Backend(format!("randomness: {e}")))?;
    Ok(bytes)
}

fn derive(
    passphrase: &str,
    salt: &[u8],
    memory_kib: u32,
    passes: u32,
) -> Result<Zeroizing<[u8; 32]>, KeyStoreError> {
    let params = argon2::Params::new(memory_kib, passes, 1, Some(32))
        .map_err(|e| KeyStoreError::Backend(format!("argon2 parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|e| KeyStoreError::Backend(format!("argon2: {e}")))?;
    Ok(key)
}

fn hex_decode(field: &str, text: &str) -> Result<Vec<u8>, KeyStoreError> {
    hex::decode(text)
        .map_err(|_| KeyStoreError::Backend(format!("the key file's {field} is not hex")))
}

const FILE_AAD: &[u8] = b"fulgur keystore v1";

fn read_file(path: &Path) -> Result<SealedFile, KeyStoreError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| KeyStoreError::Backend(format!("{}: {e}", path.display())))?;
    let file: SealedFile = serde_json::from_str(&text)
        .map_err(|e| KeyStoreError::Backend(format!("{}: {e}", path.display())))?;
    if file.version != 1 || file.kdf != "argon2id" {
        return Err(KeyStoreError::Backend(format!(
            "{}: unknown format",
            path.display()
        )));
    }
    Ok(file)
}

fn file_salt(file: &SealedFile) -> Result<[u8; 16], KeyStoreError> {
    hex_decode("salt", &file.salt)?
        .try_into()
        .map_err(|_| KeyStoreError::Backend("the key file's salt is not 16 bytes".into()))
}

/// The key set sealed in `file`; the wrong key (passphrase) or tampering is `BadPin`.
fn decrypt(file_key: &[u8; 32], file: &SealedFile) -> Result<BTreeMap<String, Key>, KeyStoreError> {
    let mut wrapped = hex_decode("nonce", &file.nonce)?;
    wrapped.extend(hex_decode("sealed", &file.sealed)?);
    let plaintext = gcm::open(file_key, &wrapped, FILE_AAD).map_err(|_| KeyStoreError::BadPin)?;
    let stored: BTreeMap<String, StoredKey> = serde_json::from_slice(&plaintext)
        .map_err(|e| KeyStoreError::Backend(format!("the key set: {e}")))?;
    let mut keys = BTreeMap::new();
    for (label, key) in stored.iter() {
        let kind: KeyKind = key
            .kind
            .parse()
            .map_err(|_| KeyStoreError::Backend(format!("key {label}: unknown kind")))?;
        let bytes = Zeroizing::new(hex_decode("secret", &key.secret)?);
        if bytes.len() != 32 {
            return Err(KeyStoreError::Backend(format!("key {label}: not 32 bytes")));
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&bytes);
        keys.insert(label.clone(), Key { kind, secret });
    }
    Ok(keys)
}

impl SoftwareStore {
    /// Creates an empty key file at `path` (refusing to overwrite one).
    pub fn create(path: &Path, passphrase: &str) -> Result<Self, KeyStoreError> {
        if path.exists() {
            return Err(KeyStoreError::Backend(format!(
                "{} exists already",
                path.display()
            )));
        }
        let salt = random::<16>()?;
        let store = Self {
            path: path.to_path_buf(),
            file_key: derive(passphrase, &salt, ARGON2_MEMORY_KIB, ARGON2_PASSES)?,
            salt,
            keys: RwLock::new(BTreeMap::new()),
        };
        store.persist(&store.keys.read().unwrap_or_else(|p| p.into_inner()))?;
        Ok(store)
    }

    /// Opens the key file; a wrong passphrase (or a tampered file) is `BadPin`.
    pub fn open(path: &Path, passphrase: &str) -> Result<Self, KeyStoreError> {
        let file = read_file(path)?;
        let salt = file_salt(&file)?;
        let file_key = derive(passphrase, &salt, file.memory_kib, file.passes)?;
        let keys = decrypt(&file_key, &file)?;
        Ok(Self {
            path: path.to_path_buf(),
            file_key,
            salt,
            keys: RwLock::new(keys),
        })
    }

    /// Rereads the file another process may have changed; it must still be sealed under
    /// the same passphrase and salt.
    fn refresh(&self) -> Result<(), KeyStoreError> {
        let file = read_file(&self.path)?;
        if file_salt(&file)? != self.salt {
            return Err(KeyStoreError::Backend(format!(
                "{} was recreated under another passphrase",
                self.path.display()
            )));
        }
        let keys = decrypt(&self.file_key, &file)?;
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        Ok(())
    }

    /// Runs a change to the key set under the file's exclusive lock, on a fresh read.
    fn change<T>(
        &self,
        apply: impl FnOnce(&mut BTreeMap<String, Key>) -> Result<T, KeyStoreError>,
    ) -> Result<T, KeyStoreError> {
        let lock_path = self.path.with_extension("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| KeyStoreError::Backend(format!("{}: {e}", lock_path.display())))?;
        lock.lock()
            .map_err(|e| KeyStoreError::Backend(format!("{}: {e}", lock_path.display())))?;
        self.refresh()?;
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let result = apply(&mut keys)?;
        if let Err(e) = self.persist(&keys) {
            drop(keys);
            // Memory follows the file: the change did not happen. If even the reread
            // fails, the next lookup rereads again.
            if let Err(reread) = self.refresh() {
                return Err(KeyStoreError::Backend(format!("{e}; then {reread}")));
            }
            return Err(e);
        }
        Ok(result)
    }

    /// Seals `keys` and replaces the file with them.
    fn persist(&self, keys: &BTreeMap<String, Key>) -> Result<(), KeyStoreError> {
        let stored: BTreeMap<&str, StoredKey> = keys
            .iter()
            .map(|(label, key)| {
                (
                    label.as_str(),
                    StoredKey {
                        kind: key.kind.as_str().to_string(),
                        secret: hex::encode(key.secret.as_ref()),
                    },
                )
            })
            .collect();
        let plaintext = Zeroizing::new(
            serde_json::to_vec(&stored).map_err(|e| KeyStoreError::Backend(e.to_string()))?,
        );
        let sealed = gcm::seal(&self.file_key, &plaintext, FILE_AAD)?;
        let (nonce, body) = sealed.split_at(NONCE_BYTES);
        let file = SealedFile {
            version: 1,
            kdf: "argon2id".into(),
            memory_kib: ARGON2_MEMORY_KIB,
            passes: ARGON2_PASSES,
            salt: hex::encode(self.salt),
            nonce: hex::encode(nonce),
            sealed: hex::encode(body),
        };
        let text =
            serde_json::to_vec_pretty(&file).map_err(|e| KeyStoreError::Backend(e.to_string()))?;
        secret_file::replace(&self.path, &text, 0o600)
            .map_err(|e| KeyStoreError::Backend(format!("{}: {e}", self.path.display())))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Key>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The secret of `label`, which must be of `kind`.
    fn secret(&self, label: &str, kind: KeyKind) -> Result<Zeroizing<[u8; 32]>, KeyStoreError> {
        if !self.read().contains_key(label) {
            // Another process (`fulgur keys rotate`) may have added it.
            self.refresh()?;
        }
        let keys = self.read();
        let key = keys
            .get(label)
            .ok_or_else(|| KeyStoreError::UnknownKey(label.to_string()))?;
        if key.kind != kind {
            return Err(KeyStoreError::WrongKind {
                label: label.to_string(),
                actual: key.kind.as_str(),
                wanted: kind.as_str(),
            });
        }
        Ok(key.secret.clone())
    }

    fn signing_key(&self, label: &str) -> Result<secp256k1::SecretKey, KeyStoreError> {
        let secret = self.secret(label, KeyKind::Secp256k1)?;
        secp256k1::SecretKey::from_slice(secret.as_ref())
            .map_err(|e| KeyStoreError::Backend(format!("key {label}: {e}")))
    }

    fn p256_key(&self, label: &str) -> Result<p256::ecdsa::SigningKey, KeyStoreError> {
        let secret = self.secret(label, KeyKind::P256)?;
        p256::ecdsa::SigningKey::from_slice(secret.as_ref())
            .map_err(|e| KeyStoreError::Backend(format!("key {label}: {e}")))
    }
}

impl KeyStore for SoftwareStore {
    fn generate(&self, label: &str, kind: KeyKind) -> Result<(), KeyStoreError> {
        crate::check_label(label)?;
        self.change(|keys| {
            if keys.contains_key(label) {
                return Err(KeyStoreError::LabelTaken(label.to_string()));
            }
            let secret = loop {
                let candidate = Zeroizing::new(random::<32>()?);
                // An EC secret must be in [1, group order): redraw the rare miss.
                let valid = match kind {
                    KeyKind::Secp256k1 => {
                        secp256k1::SecretKey::from_slice(candidate.as_ref()).is_ok()
                    }
                    KeyKind::P256 => {
                        p256::ecdsa::SigningKey::from_slice(candidate.as_ref()).is_ok()
                    }
                    KeyKind::Aes256 | KeyKind::HmacSha256 => true,
                };
                if valid {
                    break candidate;
                }
            };
            keys.insert(label.to_string(), Key { kind, secret });
            Ok(())
        })
    }

    fn list(&self) -> Result<Vec<KeyInfo>, KeyStoreError> {
        self.refresh()?;
        Ok(self
            .read()
            .iter()
            .map(|(label, key)| KeyInfo {
                label: label.clone(),
                kind: key.kind,
            })
            .collect())
    }

    fn public_key(&self, label: &str) -> Result<secp256k1::PublicKey, KeyStoreError> {
        let secret = self.signing_key(label)?;
        Ok(secp256k1::PublicKey::from_secret_key(
            secp256k1::SECP256K1,
            &secret,
        ))
    }

    fn sign_digest(
        &self,
        label: &str,
        digest: &[u8; 32],
    ) -> Result<secp256k1::ecdsa::Signature, KeyStoreError> {
        let secret = self.signing_key(label)?;
        let signature =
            secp256k1::SECP256K1.sign_ecdsa(&secp256k1::Message::from_digest(*digest), &secret);
        ec::signature(&signature.serialize_compact())
    }

    fn p256_public_key(&self, label: &str) -> Result<p256::ecdsa::VerifyingKey, KeyStoreError> {
        Ok(*self.p256_key(label)?.verifying_key())
    }

    fn p256_sign_digest(
        &self,
        label: &str,
        digest: &[u8; 32],
    ) -> Result<p256::ecdsa::Signature, KeyStoreError> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        self.p256_key(label)?
            .sign_prehash(digest)
            .map_err(|e| KeyStoreError::Backend(format!("key {label}: {e}")))
    }

    fn wrap(&self, kek: &str, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
        crate::check_wrap_input(plaintext)?;
        gcm::seal(&*self.secret(kek, KeyKind::Aes256)?, plaintext, aad)
    }

    fn unwrap(
        &self,
        kek: &str,
        wrapped: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        gcm::open(&*self.secret(kek, KeyKind::Aes256)?, wrapped, aad)
    }

    fn hmac(&self, label: &str, data: &[u8]) -> Result<[u8; 32], KeyStoreError> {
        let secret = self.secret(label, KeyKind::HmacSha256)?;
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(secret.as_ref())
            .map_err(|e| KeyStoreError::Backend(e.to_string()))?;
        mac.update(data);
        Ok(mac.finalize().into_bytes().into())
    }

    fn protection(&self, label: &str) -> Result<Protection, KeyStoreError> {
        crate::check_label(label)?;
        if !self.read().contains_key(label) {
            return Err(KeyStoreError::UnknownKey(label.to_string()));
        }
        // No call returns a key's value; the file holds it sealed under the passphrase.
        Ok(Protection {
            sensitive: true,
            extractable: false,
            never_extractable: true,
            value_readable: false,
        })
    }

    fn destroy(&self, label: &str) -> Result<(), KeyStoreError> {
        crate::check_label(label)?;
        self.change(|keys| match keys.remove(label) {
            Some(_) => Ok(()),
            None => Err(KeyStoreError::UnknownKey(label.to_string())),
        })
    }
}
