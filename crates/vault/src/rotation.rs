//! KEK rotation without downtime: a new version becomes current, every data key is
//! re-wrapped under it (the sealed data untouched), then the versions nothing names any
//! more are destroyed. Readers keep working throughout. A rotation cut short (crash,
//! error) leaves every secret readable; the next rotation finishes the work.

use audit::Origin;
use store::StoreError;

use crate::secrets::aad;
use crate::{record, Vault, VaultError};

/// Secrets re-wrapped per read of the store.
const REWRAP_BATCH: i64 = 64;
/// Bounds one rotation: 64 × 10,000 = 640,000 secrets.
const MAX_REWRAP_BATCHES: usize = 10_000;

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub from: String,
    pub to: String,
    pub rewrapped: u64,
    /// The old versions destroyed.
    pub destroyed: Vec<String>,
}

struct Stale {
    name: String,
    kek_label: String,
    wrapped_key: Vec<u8>,
}

impl Vault {
    /// Rotates the KEK: generates the next version, makes it current, re-wraps every data
    /// key under it and destroys the old versions. Every step is audited.
    pub async fn rotate(&self, origin: &Origin) -> Result<Rotation, VaultError> {
        let from = self.current_kek().await?;
        let to = self
            .blocking(|keys, name| keystore::envelope::rotate_kek(keys, &name))
            .await?;
        let (kek_name, at_ms, origin_owned) =
            (self.kek_name.clone(), self.now_ms(), origin.clone());
        let (from_owned, to_owned) = (from.clone(), to.clone());
        self.store
            .write(move |sql| {
                sql.execute(
                    "UPDATE vault_keks SET current_label = $2, rotated_at_ms = $3 WHERE name = $1",
                    &[kek_name.into(), to_owned.clone().into(), at_ms.into()],
                )?;
                record(
                    sql,
                    at_ms,
                    &origin_owned,
                    "kek.rotate",
                    &to_owned,
                    Some(format!("from {from_owned}")),
                )
            })
            .await?;
        tracing::info!(target: "vault", from = %from, to = %to, "key-encryption key rotated");
        let rewrapped = self.rewrap_all(origin).await?;
        let destroyed = self.destroy_retired(origin).await?;
        Ok(Rotation {
            from,
            to,
            rewrapped,
            destroyed,
        })
    }

    /// Re-wraps every data key not under the current version; returns how many.
    pub async fn rewrap_all(&self, origin: &Origin) -> Result<u64, VaultError> {
        let mut rewrapped = 0;
        for _ in 0..MAX_REWRAP_BATCHES {
            let current = self.current_kek().await?;
            let stale = self.stale(&current).await?;
            if stale.is_empty() {
                return Ok(rewrapped);
            }
            for row in stale {
                let (target, old, wrapped, aad_bytes) = (
                    current.clone(),
                    row.kek_label.clone(),
                    row.wrapped_key,
                    aad(&row.name),
                );
                let rewrapped_key = self
                    .blocking(move |keys, _| {
                        let data_key = keys.unwrap(&old, &wrapped, &aad_bytes)?;
                        keys.wrap(&target, &data_key, &aad_bytes)
                    })
                    .await?;
                let (at_ms, origin) = (self.now_ms(), origin.clone());
                let current = current.clone();
                let changed = self
                    .store
                    .write(move |sql| {
                        // Only if nobody re-wrapped it meanwhile (a concurrent rotation).
                        let changed = sql.execute(
                            "UPDATE sealed_secrets SET kek_label = $3, wrapped_key = $4, \
                             wrapped_at_ms = $5 WHERE name = $1 AND kek_label = $2",
                            &[
                                row.name.clone().into(),
                                row.kek_label.clone().into(),
                                current.clone().into(),
                                rewrapped_key.into(),
                                at_ms.into(),
                            ],
                        )?;
                        if changed == 1 {
                            record(
                                sql,
                                at_ms,
                                &origin,
                                "secret.rewrap",
                                &row.name,
                                Some(format!("{} -> {current}", row.kek_label)),
                            )?;
                        }
                        Ok::<_, StoreError>(changed)
                    })
                    .await?;
                rewrapped += changed;
            }
        }
        Err(VaultError::Contended(format!(
            "re-wrap under {}",
            self.kek_name
        )))
    }

    /// Destroys the versions older than the current one that no secret names. Newer ones
    /// are left alone: a concurrent rotation may be about to make one current.
    async fn destroy_retired(&self, origin: &Origin) -> Result<Vec<String>, VaultError> {
        let current = self.current_kek().await?;
        let current_version =
            version_of(&self.kek_name, &current).ok_or_else(|| VaultError::KekMissing {
                label: current.clone(),
            })?;
        let versions = self
            .blocking(|keys, name| keystore::envelope::kek_versions(keys, &name))
            .await?;
        let mut destroyed = Vec::new();
        for version in versions.into_iter().filter(|v| *v < current_version) {
            let label = format!("{}.v{version}", self.kek_name);
            let named = label.clone();
            let in_use: i64 = self
                .store
                .read(move |sql| {
                    sql.query_one(
                        "SELECT CAST(COUNT(*) AS BIGINT) AS in_use FROM sealed_secrets WHERE kek_label = $1",
                        &[named.into()],
                    )?
                    .i64("in_use")
                })
                .await?;
            if in_use > 0 {
                continue;
            }
            let target = label.clone();
            self.blocking(move |keys, _| keys.destroy(&target)).await?;
            let (at_ms, origin, target) = (self.now_ms(), origin.clone(), label.clone());
            self.store
                .write(move |sql| record(sql, at_ms, &origin, "kek.destroy", &target, None))
                .await?;
            tracing::info!(target: "vault", label = %label, "retired key-encryption key destroyed");
            destroyed.push(label);
        }
        Ok(destroyed)
    }

    async fn stale(&self, current: &str) -> Result<Vec<Stale>, VaultError> {
        let current = current.to_string();
        self.store
            .read(move |sql| {
                sql.query(
                    "SELECT name, kek_label, wrapped_key FROM sealed_secrets \
                     WHERE kek_label <> $1 ORDER BY name LIMIT $2",
                    &[current.into(), REWRAP_BATCH.into()],
                )?
                .iter()
                .map(|row| {
                    Ok(Stale {
                        name: row.text("name")?.to_string(),
                        kek_label: row.text("kek_label")?.to_string(),
                        wrapped_key: row.blob("wrapped_key")?.to_vec(),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()
            })
            .await
            .map_err(VaultError::from)
    }
}

fn version_of(kek_name: &str, label: &str) -> Option<u32> {
    label
        .strip_prefix(kek_name)?
        .strip_prefix(".v")?
        .parse()
        .ok()
}
