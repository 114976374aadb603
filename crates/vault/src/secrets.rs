//! Sealing, opening and adopting secrets.

use std::path::Path;

use audit::Origin;
use keystore::envelope::{self, Envelope};
use keystore::KeyStoreError;
use store::StoreError;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{record, Vault, VaultError};

/// Attempts to seal under the current KEK while rotations keep replacing it.
const MAX_SEAL_ATTEMPTS: usize = 3;
/// Largest secret sealed (node seeds are 64 bytes).
const MAX_SECRET_BYTES: usize = 4096;

/// A sealed secret as listed (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub name: String,
    /// The KEK version wrapping its data key.
    pub kek_label: String,
    pub created_at_ms: i64,
    pub wrapped_at_ms: i64,
}

/// What [`Vault::adopt_file`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adopted {
    /// No such file: nothing to do.
    NoFile,
    /// The file's secret is now sealed in the vault and the file is gone.
    Imported,
    /// The vault already held the same secret; the file is gone.
    AlreadyHeld,
}

/// How a plain secret file holds its secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// The bytes themselves (ldk-node's `keys_seed`).
    Raw,
    /// Hex text, surrounding whitespace ignored (the old pepper file).
    Hex,
}

/// Binds a secret's sealing to its name, so that one row cannot stand in for another.
pub(crate) fn aad(name: &str) -> Vec<u8> {
    format!("fulgur-vault-v1:{name}").into_bytes()
}

pub(crate) fn check_name(name: &str) -> Result<(), VaultError> {
    let ok = (1..=128).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b':')
        });
    if ok {
        Ok(())
    } else {
        Err(VaultError::InvalidName(name.to_string()))
    }
}

impl Vault {
    /// The secret `name`, or `None` if the vault has none by that name.
    pub async fn secret(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
        check_name(name)?;
        let mut last_kek = None;
        // A rotation may re-wrap and destroy the version read between the read and the
        // unwrap: the second read finds the new version.
        for _ in 0..2 {
            let Some(envelope) = self.envelope(name).await? else {
                return Ok(None);
            };
            if last_kek.as_ref() == Some(&envelope.kek) {
                break;
            }
            last_kek = Some(envelope.kek.clone());
            let aad = aad(name);
            match self
                .blocking(move |keys, _| envelope::open(keys, &envelope, &aad))
                .await
            {
                Err(VaultError::KeyStore(KeyStoreError::UnknownKey(_))) => continue,
                other => return other.map(Some),
            }
        }
        Err(VaultError::KekMissing {
            label: last_kek.unwrap_or_default(),
        })
    }

    /// The secret `name`, created from `len` random bytes (sealed, audited) if absent.
    /// Replicas racing to create it all get the one that committed.
    pub async fn get_or_create(
        &self,
        name: &str,
        len: usize,
        origin: &Origin,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        if let Some(secret) = self.secret(name).await? {
            return Ok(secret);
        }
        let mut fresh = Zeroizing::new(vec![0u8; len]);
        getrandom::fill(&mut fresh).map_err(|e| VaultError::Io(format!("randomness: {e}")))?;
        if self.insert(name, &fresh, "secret.create", origin).await? {
            return Ok(fresh);
        }
        self.secret(name)
            .await?
            .ok_or_else(|| VaultError::Io(format!("secret {name} vanished while created")))
    }

    /// Seals `secret` as `name` unless the vault has one by that name (then `false`).
    pub async fn insert(
        &self,
        name: &str,
        secret: &[u8],
        action: &'static str,
        origin: &Origin,
    ) -> Result<bool, VaultError> {
        check_name(name)?;
        if secret.is_empty() || secret.len() > MAX_SECRET_BYTES {
            return Err(VaultError::Io(format!(
                "secrets are 1 to {MAX_SECRET_BYTES} bytes, not {}",
                secret.len()
            )));
        }
        for _ in 0..MAX_SEAL_ATTEMPTS {
            let kek = self.current_kek().await?;
            let (plaintext, aad_bytes) = (Zeroizing::new(secret.to_vec()), aad(name));
            let sealed = self
                .blocking(move |keys, _| envelope::seal_under(keys, &kek, &plaintext, &aad_bytes))
                .await?;
            let (kek_name, name_owned) = (self.kek_name.clone(), name.to_string());
            let (at_ms, origin) = (self.now_ms(), origin.clone());
            let outcome = self
                .store
                .write(move |sql| {
                    // Commits only while the version is current; the row lock makes a
                    // concurrent rotation wait for this seal, or this seal see it.
                    let current = sql.execute(
                        "UPDATE vault_keks SET current_label = current_label \
                         WHERE name = $1 AND current_label = $2",
                        &[kek_name.into(), sealed.kek.clone().into()],
                    )?;
                    if current == 0 {
                        return Ok::<_, StoreError>(None);
                    }
                    let inserted = sql.execute(
                        "INSERT INTO sealed_secrets \
                         (name, kek_label, wrapped_key, sealed, created_at_ms, wrapped_at_ms) \
                         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (name) DO NOTHING",
                        &[
                            name_owned.clone().into(),
                            sealed.kek.clone().into(),
                            sealed.wrapped_key.into(),
                            sealed.sealed.into(),
                            at_ms.into(),
                        ],
                    )?;
                    if inserted == 1 {
                        record(sql, at_ms, &origin, action, &name_owned, Some(sealed.kek))?;
                    }
                    Ok(Some(inserted == 1))
                })
                .await?;
            if let Some(inserted) = outcome {
                return Ok(inserted);
            }
        }
        Err(VaultError::Contended(name.to_string()))
    }

    /// Moves a secret kept in a plain file (a node's `keys_seed`, an old pepper file) into
    /// the vault, then overwrites and removes the file. Refuses, changing nothing, if the
    /// vault already holds a different secret by that name.
    pub async fn adopt_file(
        &self,
        name: &str,
        path: &Path,
        format: FileFormat,
        origin: &Origin,
    ) -> Result<Adopted, VaultError> {
        let io = |e: std::io::Error| VaultError::Io(format!("{}: {e}", path.display()));
        if !path.exists() {
            return Ok(Adopted::NoFile);
        }
        let raw = Zeroizing::new(std::fs::read(path).map_err(io)?);
        let from_file = match format {
            FileFormat::Raw => raw,
            FileFormat::Hex => Zeroizing::new(
                std::str::from_utf8(&raw)
                    .ok()
                    .and_then(|text| hex::decode(text.trim()).ok())
                    .ok_or_else(|| VaultError::Io(format!("{} is not hex", path.display())))?,
            ),
        };
        let adopted = match self.secret(name).await? {
            Some(held) if bool::from(held.as_slice().ct_eq(&from_file)) => Adopted::AlreadyHeld,
            Some(_) => {
                return Err(VaultError::Conflict {
                    name: name.to_string(),
                    path: path.display().to_string(),
                })
            }
            None => {
                self.insert(name, &from_file, "secret.import", origin)
                    .await?;
                // Raced with another importer: only a byte-identical secret lets the file go.
                let held = self.secret(name).await?.unwrap_or_default();
                if !bool::from(held.as_slice().ct_eq(&from_file)) {
                    return Err(VaultError::Conflict {
                        name: name.to_string(),
                        path: path.display().to_string(),
                    });
                }
                Adopted::Imported
            }
        };
        shred(path).map_err(io)?;
        Ok(adopted)
    }

    /// Destroys the secret `name` (audited); `false` if there was none.
    pub async fn remove(&self, name: &str, origin: &Origin) -> Result<bool, VaultError> {
        check_name(name)?;
        let (name, at_ms, origin) = (name.to_string(), self.now_ms(), origin.clone());
        self.store
            .write(move |sql| {
                let removed = sql.execute(
                    "DELETE FROM sealed_secrets WHERE name = $1",
                    &[name.clone().into()],
                )?;
                if removed == 1 {
                    record(sql, at_ms, &origin, "secret.destroy", &name, None)?;
                }
                Ok::<_, StoreError>(removed == 1)
            })
            .await
            .map_err(VaultError::from)
    }

    /// The secrets held, by name (never their values).
    pub async fn secrets(&self) -> Result<Vec<SecretInfo>, VaultError> {
        self.store
            .read(|sql| {
                sql.query(
                    "SELECT name, kek_label, created_at_ms, wrapped_at_ms \
                     FROM sealed_secrets ORDER BY name",
                    &[],
                )?
                .iter()
                .map(|row| {
                    Ok(SecretInfo {
                        name: row.text("name")?.to_string(),
                        kek_label: row.text("kek_label")?.to_string(),
                        created_at_ms: row.i64("created_at_ms")?,
                        wrapped_at_ms: row.i64("wrapped_at_ms")?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()
            })
            .await
            .map_err(VaultError::from)
    }

    async fn envelope(&self, name: &str) -> Result<Option<Envelope>, VaultError> {
        let name = name.to_string();
        self.store
            .read(move |sql| {
                sql.query_opt(
                    "SELECT kek_label, wrapped_key, sealed FROM sealed_secrets WHERE name = $1",
                    &[name.into()],
                )?
                .map(|row| {
                    Ok::<_, StoreError>(Envelope {
                        kek: row.text("kek_label")?.to_string(),
                        wrapped_key: row.blob("wrapped_key")?.to_vec(),
                        sealed: row.blob("sealed")?.to_vec(),
                    })
                })
                .transpose()
            })
            .await
            .map_err(VaultError::from)
    }
}

/// Overwrites the file with zeros (synced) before removing it: on filesystems that
/// write in place the old bytes are gone; copy-on-write filesystems and SSD remapping
/// may still keep them, which is why secrets belong in the vault from the start.
fn shred(path: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let len = std::fs::metadata(path)?.len();
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(&vec![0u8; usize::try_from(len).unwrap_or(0)])?;
    file.sync_all()?;
    drop(file);
    std::fs::remove_file(path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
