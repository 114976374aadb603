//! Envelope encryption: data is sealed under a fresh data key (AES-256-GCM, in this
//! process), and the data key is wrapped by a key-encryption key in the store. Rotating
//! the KEK re-wraps data keys without ever decrypting the data. KEKs are versioned by
//! label, `NAME.vN`; the highest version present is the current one.

use zeroize::Zeroizing;

use crate::{gcm, KeyKind, KeyStore, KeyStoreError};

/// Sealed data and the wrapped data key that opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The KEK version that wrapped the data key (`NAME.vN`).
    pub kek: String,
    pub wrapped_key: Vec<u8>,
    /// nonce ‖ ciphertext ‖ tag under the data key.
    pub sealed: Vec<u8>,
}

fn version_label(name: &str, version: u32) -> String {
    format!("{name}.v{version}")
}

/// The versions of KEK `name` the store holds, ascending.
pub fn kek_versions(store: &dyn KeyStore, name: &str) -> Result<Vec<u32>, KeyStoreError> {
    let prefix = format!("{name}.v");
    let mut versions: Vec<u32> = store
        .list()?
        .into_iter()
        .filter(|k| k.kind == KeyKind::Aes256)
        .filter_map(|k| k.label.strip_prefix(&prefix)?.parse().ok())
        .collect();
    versions.sort_unstable();
    Ok(versions)
}

/// The current version's label of KEK `name`; `UnknownKey` if it has none.
pub fn current_kek(store: &dyn KeyStore, name: &str) -> Result<String, KeyStoreError> {
    kek_versions(store, name)?
        .last()
        .map(|v| version_label(name, *v))
        .ok_or_else(|| KeyStoreError::UnknownKey(version_label(name, 1)))
}

/// Generates the next version of KEK `name` (v1 first) and returns its label.
pub fn rotate_kek(store: &dyn KeyStore, name: &str) -> Result<String, KeyStoreError> {
    let next = kek_versions(store, name)?.last().map_or(1, |v| v + 1);
    let label = version_label(name, next);
    store.generate(&label, KeyKind::Aes256)?;
    Ok(label)
}

/// Seals `plaintext` under a fresh data key wrapped by the current version of `kek_name`;
/// `aad` binds both to their use (e.g. `node-seed:alpha`).
pub fn seal(
    store: &dyn KeyStore,
    kek_name: &str,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Envelope, KeyStoreError> {
    seal_under(store, &current_kek(store, kek_name)?, plaintext, aad)
}

/// Seals `plaintext` under a fresh data key wrapped by the KEK version `kek` (a label).
pub fn seal_under(
    store: &dyn KeyStore,
    kek: &str,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Envelope, KeyStoreError> {
    let mut data_key = Zeroizing::new([0u8; 32]);
    getrandom::fill(data_key.as_mut())
        .map_err(|e| KeyStoreError::Backend(format!("randomness: {e}")))?;
    Ok(Envelope {
        wrapped_key: store.wrap(kek, data_key.as_ref(), aad)?,
        sealed: gcm::seal(&data_key, plaintext, aad)?,
        kek: kek.to_string(),
    })
}

/// Opens an envelope; tampering with either part, or the wrong `aad`, is `Unauthentic`.
pub fn open(
    store: &dyn KeyStore,
    envelope: &Envelope,
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    let data_key = store.unwrap(&envelope.kek, &envelope.wrapped_key, aad)?;
    let data_key: &[u8; 32] = data_key
        .as_slice()
        .try_into()
        .map_err(|_| KeyStoreError::Unauthentic)?;
    gcm::open(data_key, &envelope.sealed, aad)
}

/// Re-wraps the envelope's data key under the current version of its KEK; the sealed data
/// is untouched. Returns the envelope unchanged if it is already current.
pub fn rewrap(
    store: &dyn KeyStore,
    kek_name: &str,
    envelope: &Envelope,
    aad: &[u8],
) -> Result<Envelope, KeyStoreError> {
    rewrap_under(store, &current_kek(store, kek_name)?, envelope, aad)
}

/// Re-wraps the envelope's data key under the KEK version `target` (a label).
pub fn rewrap_under(
    store: &dyn KeyStore,
    target: &str,
    envelope: &Envelope,
    aad: &[u8],
) -> Result<Envelope, KeyStoreError> {
    if envelope.kek == target {
        return Ok(envelope.clone());
    }
    let data_key = store.unwrap(&envelope.kek, &envelope.wrapped_key, aad)?;
    Ok(Envelope {
        wrapped_key: store.wrap(target, &data_key, aad)?,
        kek: target.to_string(),
        sealed: envelope.sealed.clone(),
    })
}
