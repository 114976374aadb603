//! Signing secrets in the vault: each subscription's current secret (and, during a
//! rotation's overlap, the previous one) is sealed there under its own name; the
//! subscription row only names it. Rows from before the vault hold their secret in clear
//! until [`Webhooks::seal_clear_secrets`] moves it.

use std::collections::HashMap;

use audit::Origin;
use store::Value;
use zeroize::Zeroizing;

use crate::subscriptions::WebhookSecret;
use crate::{WebhookError, Webhooks};

/// Secrets kept opened in memory, so a delivery does not cost a key-store unwrap.
const MAX_CACHED_SECRETS: usize = 4_096;
/// Rows sealed per transaction at start.
const SEAL_BATCH: i64 = 64;

/// Where a delivery's signing secret is.
pub(crate) enum SecretSource {
    /// Sealed in the vault under this name.
    Sealed(String),
    /// In clear on a row from before the vault, not sealed yet.
    Clear(Zeroizing<String>),
}

impl SecretSource {
    /// The row's name for the secret if it has one, else its clear secret if not empty.
    pub(crate) fn of(name: Option<&str>, clear: Option<&str>) -> Option<Self> {
        match (name, clear) {
            (Some(name), _) => Some(SecretSource::Sealed(name.to_string())),
            (None, Some(clear)) if !clear.is_empty() => {
                Some(SecretSource::Clear(Zeroizing::new(clear.to_string())))
            }
            _ => None,
        }
    }
}

/// Opened secrets by name: names are never reused, so an entry never goes stale.
#[derive(Default)]
pub(crate) struct SecretCache(std::sync::Mutex<HashMap<String, Zeroizing<String>>>);

impl SecretCache {
    fn get(&self, name: &str) -> Option<Zeroizing<String>> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    fn put(&self, name: &str, secret: Zeroizing<String>) {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED_SECRETS {
            cache.clear();
        }
        cache.insert(name.to_string(), secret);
    }
}

fn vault_error(e: vault::VaultError) -> WebhookError {
    WebhookError::Secrets(e.to_string())
}

impl Webhooks {
    /// A fresh secret sealed in the vault; returns its name and the secret (to show once).
    pub(crate) async fn seal_new_secret(
        &self,
        origin: &Origin,
    ) -> Result<(String, WebhookSecret), WebhookError> {
        let secret = WebhookSecret::generate();
        let name = self.seal(secret.expose(), origin).await?;
        Ok((name, secret))
    }

    async fn seal(&self, secret: &str, origin: &Origin) -> Result<String, WebhookError> {
        let name = format!(
            "webhook-secret:{}",
            self.inner.ids.next_id("whs").to_ascii_lowercase()
        );
        let inserted = self
            .inner
            .vault
            .insert(&name, secret.as_bytes(), "secret.create", origin)
            .await
            .map_err(vault_error)?;
        if !inserted {
            return Err(WebhookError::Secrets(format!("{name} exists already")));
        }
        Ok(name)
    }

    /// Destroys sealed secrets no subscription names any more.
    pub(crate) async fn forget_secret(&self, name: Option<String>, origin: &Origin) {
        let Some(name) = name else { return };
        if let Err(error) = self.inner.vault.remove(&name, origin).await {
            tracing::warn!(%error, secret = %name, "an unused webhook secret was not destroyed");
        }
    }

    /// The secrets a delivery is signed with, opened from the vault (or the cache).
    pub(crate) async fn signing_secrets(
        &self,
        sources: &[SecretSource],
    ) -> Result<Vec<Zeroizing<String>>, WebhookError> {
        let mut secrets = Vec::with_capacity(sources.len());
        for source in sources {
            match source {
                SecretSource::Clear(secret) => secrets.push(secret.clone()),
                SecretSource::Sealed(name) => {
                    if let Some(secret) = self.inner.secret_cache.get(name) {
                        secrets.push(secret);
                        continue;
                    }
                    let bytes = self
                        .inner
                        .vault
                        .secret(name)
                        .await
                        .map_err(vault_error)?
                        .ok_or_else(|| {
                            WebhookError::Secrets(format!("{name} is not in the vault"))
                        })?;
                    let secret = Zeroizing::new(
                        String::from_utf8(bytes.to_vec())
                            .map_err(|_| WebhookError::Secrets(format!("{name} is not text")))?,
                    );
                    self.inner.secret_cache.put(name, secret.clone());
                    secrets.push(secret);
                }
            }
        }
        Ok(secrets)
    }

    /// Seals every secret still held in clear by a subscription row (rows from before the
    /// vault) and clears it from the row; returns how many. Run at start.
    pub async fn seal_clear_secrets(&self, origin: &Origin) -> Result<u64, WebhookError> {
        let mut sealed = 0;
        loop {
            let rows = self
                .inner
                .store
                .read(|sql| {
                    sql.query(
                        "SELECT id, secret, previous_secret FROM webhook_subscriptions \
                         WHERE secret <> '' OR previous_secret IS NOT NULL ORDER BY id LIMIT $1",
                        &[Value::Int(SEAL_BATCH)],
                    )
                })
                .await?;
            if rows.is_empty() {
                return Ok(sealed);
            }
            for row in &rows {
                let id = row.text("id")?.to_string();
                let clear = Zeroizing::new(row.text("secret")?.to_string());
                let previous = row
                    .opt_text("previous_secret")?
                    .map(|p| Zeroizing::new(p.to_string()));
                let name = match clear.is_empty() {
                    true => None,
                    false => Some(self.seal(&clear, origin).await?),
                };
                let previous_name = match &previous {
                    Some(p) => Some(self.seal(p, origin).await?),
                    None => None,
                };
                let (clear, previous) = (clear.to_string(), previous.map(|p| p.to_string()));
                let (set_name, set_previous) = (name.clone(), previous_name.clone());
                let moved = self
                    .inner
                    .store
                    .write(move |sql| {
                        // Only if the row still holds what was sealed.
                        sql.execute(
                            "UPDATE webhook_subscriptions SET \
                             secret_name = COALESCE($2, secret_name), secret = '', \
                             previous_secret_name = COALESCE($3, previous_secret_name), \
                             previous_secret = NULL \
                             WHERE id = $1 AND secret = $4 \
                             AND COALESCE(previous_secret, '') = $5",
                            &[
                                id.into(),
                                set_name.into(),
                                set_previous.into(),
                                clear.into(),
                                previous.unwrap_or_default().into(),
                            ],
                        )
                    })
                    .await?;
                if moved == 1 {
                    sealed += 1;
                } else {
                    self.forget_secret(name, origin).await;
                    self.forget_secret(previous_name, origin).await;
                }
            }
        }
    }
}
