//! Subscriptions: a tenant's receiver URL, the event types it wants, and the secret its
//! deliveries are signed with (shown once, when created).
//!
//! Over 500 lines: creation, updates, rotation and deletion share the destination and
//! secret checks, which read best beside each other.

use audit::AuditAction;
use ipnet::IpNet;
use kernel::{Actor, Scope};
use store::{Row, Sql, Value};

use crate::destination::check_subscribed_host;

use crate::{WebhookError, Webhooks};

/// Every event type the gateway emits; `*` subscribes to all, present and future.
pub use outbox::EVENT_TYPES;

const MAX_URL_BYTES: usize = 2_048;
const DEFAULT_ROTATION_OVERLAP_SECS: u32 = 24 * 3_600;
const MAX_ROTATION_OVERLAP_SECS: u32 = 7 * 24 * 3_600;

#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub tenant_id: String,
    pub url: String,
    pub event_types: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub tenant_id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub created_at_ms: i64,
    /// It receives the outbox events after this one: those that happen after it is made.
    pub starts_after_seq: i64,
}

impl Subscription {
    pub(crate) const COLUMNS: &'static str =
        "id, tenant_id, url, event_types, enabled, created_at_ms, starts_after_seq";

    pub(crate) fn from_row(row: &Row) -> Result<Self, store::StoreError> {
        Ok(Self {
            id: row.text("id")?.to_string(),
            tenant_id: row.text("tenant_id")?.to_string(),
            url: row.text("url")?.to_string(),
            event_types: split_types(row.text("event_types")?),
            enabled: row.bool("enabled")?,
            created_at_ms: row.i64("created_at_ms")?,
            starts_after_seq: row.i64("starts_after_seq")?,
        })
    }

    pub(crate) fn wants(&self, event_seq: i64, event_type: &str) -> bool {
        event_seq > self.starts_after_seq
            && self.event_types.iter().any(|t| t == "*" || t == event_type)
    }
}

pub(crate) fn split_types(stored: &str) -> Vec<String> {
    stored.split(',').map(str::to_string).collect()
}

/// A subscription's signing secret. Not `Display` and redacted in `Debug`, so it cannot
/// slip into a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub(crate) fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS provides randomness");
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self(format!("whsec_{hex}"))
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// A new subscription with its secret, which is never shown again.
#[derive(Debug, Clone)]
pub struct CreatedSubscription {
    pub subscription: Subscription,
    pub secret: WebhookSecret,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> WebhookError {
    WebhookError::InvalidField {
        field,
        reason: reason.into(),
    }
}

/// A well-formed receiver URL at a permitted destination. Its host is judged as the
/// request will see it, after normalisation: `https://2130706433/` is 127.0.0.1. A name is
/// judged here only if it means loopback; what it resolves to is checked at every connect.
fn validate_url(
    url: &str,
    allow_http: bool,
    allowed_private_networks: &[IpNet],
) -> Result<(), WebhookError> {
    if url.len() > MAX_URL_BYTES {
        return Err(invalid("url", format!("at most {MAX_URL_BYTES} bytes")));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid("url", e.to_string()))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err(invalid("url", "must be https")),
        other => return Err(invalid("url", format!("scheme {other} is not http(s)"))),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("url", "has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("url", "must not carry credentials"));
    }
    if parsed.fragment().is_some() {
        return Err(invalid("url", "must not have a fragment"));
    }
    if check_subscribed_host(&parsed, allowed_private_networks).is_err() {
        return Err(invalid(
            "url",
            "points to a private or loopback address; webhooks go to public addresses only",
        ));
    }
    Ok(())
}

/// Known types, no duplicates, `*` alone; stored sorted.
fn validate_types(types: &[String]) -> Result<String, WebhookError> {
    if types.is_empty() {
        return Err(invalid("event_types", "name at least one event type, or *"));
    }
    let mut sorted: Vec<&str> = types.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != types.len() {
        return Err(invalid("event_types", "lists a type twice"));
    }
    if sorted.contains(&"*") && sorted.len() > 1 {
        return Err(invalid("event_types", "* already means every type"));
    }
    if let Some(unknown) = sorted
        .iter()
        .find(|t| **t != "*" && !EVENT_TYPES.contains(t))
    {
        return Err(invalid(
            "event_types",
            format!("unknown type {unknown}; known: {}", EVENT_TYPES.join(", ")),
        ));
    }
    Ok(sorted.join(","))
}

pub(crate) fn get_subscription(
    sql: &mut dyn Sql,
    id: &str,
) -> Result<Option<Subscription>, WebhookError> {
    let row = sql.query_opt(
        &format!(
            "SELECT {} FROM webhook_subscriptions WHERE id = $1",
            Subscription::COLUMNS
        ),
        &[id.into()],
    )?;
    Ok(row.as_ref().map(Subscription::from_row).transpose()?)
}

impl Webhooks {
    /// Subscribes `url` to `event_types` of a tenant the scope may use.
    pub async fn create_subscription(
        &self,
        actor: &Actor,
        new: NewSubscription,
    ) -> Result<CreatedSubscription, WebhookError> {
        if !actor.scope.allows(&new.tenant_id) || new.tenant_id == kernel::SYSTEM_TENANT {
            return Err(invalid(
                "tenant_id",
                format!("no tenant {} you may use", new.tenant_id),
            ));
        }
        let config = &self.inner.config;
        validate_url(
            &new.url,
            config.allow_http,
            &config.allowed_private_networks,
        )?;
        let types = validate_types(&new.event_types)?;
        let id = self.inner.ids.next_id("whk");
        let (secret_name, secret) = self.seal_new_secret(&actor.origin).await?;
        let subscription = Subscription {
            id,
            tenant_id: new.tenant_id,
            url: new.url,
            event_types: split_types(&types),
            enabled: true,
            created_at_ms: self.now_ms(),
            starts_after_seq: 0,
        };
        let limit = self.inner.config.max_subscriptions_per_tenant;
        let (mut record, stored_name, actor_owned) =
            (subscription, secret_name.clone(), actor.clone());
        let created = self
            .inner
            .store
            .write(move |sql| {
                let actor = actor_owned;
                let tenant = sql.query_opt(
                    "SELECT 1 FROM tenants WHERE id = $1",
                    &[record.tenant_id.as_str().into()],
                )?;
                if tenant.is_none() {
                    return Err(invalid(
                        "tenant_id",
                        format!("no tenant {} you may use", record.tenant_id),
                    ));
                }
                let count = sql
                    .query_one(
                        "SELECT COUNT(*) AS subscriptions FROM webhook_subscriptions \
                         WHERE tenant_id = $1 AND enabled = 1",
                        &[record.tenant_id.as_str().into()],
                    )?
                    .i64("subscriptions")?;
                if usize::try_from(count).unwrap_or(usize::MAX) >= limit {
                    return Err(WebhookError::TooManySubscriptions {
                        tenant_id: record.tenant_id.clone(),
                        limit,
                    });
                }
                record.starts_after_seq = sql
                    .query_one("SELECT COALESCE(MAX(seq), 0) AS last_seq FROM outbox", &[])?
                    .i64("last_seq")?;
                sql.execute(
                    "INSERT INTO webhook_subscriptions (id, tenant_id, url, secret, secret_name, \
                     event_types, enabled, created_at_ms, starts_after_seq) \
                     VALUES ($1, $2, $3, '', $4, $5, 1, $6, $7)",
                    &[
                        record.id.as_str().into(),
                        record.tenant_id.as_str().into(),
                        record.url.as_str().into(),
                        stored_name.into(),
                        types.into(),
                        Value::Int(record.created_at_ms),
                        Value::Int(record.starts_after_seq),
                    ],
                )?;
                let (tenant, at) = (Some(record.tenant_id.as_str()), record.created_at_ms);
                actor.audit(sql, at, tenant, "webhook.create", &record.id, None)?;
                Ok(record)
            })
            .await;
        let subscription = match created {
            Ok(subscription) => subscription,
            Err(e) => {
                // Refused: the secret sealed for it has no subscription.
                self.forget_secret(Some(secret_name), &actor.origin).await;
                return Err(e);
            }
        };
        tracing::info!(id = %subscription.id, tenant = %subscription.tenant_id, "webhook subscription created");
        Ok(CreatedSubscription {
            subscription,
            secret,
        })
    }

    /// A subscription the scope may see.
    pub async fn subscription(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<Subscription, WebhookError> {
        let owned = id.to_string();
        let found = self
            .inner
            .store
            .read(move |sql| get_subscription(sql, &owned))
            .await?;
        found
            .filter(|s| scope.allows(&s.tenant_id))
            .ok_or_else(|| WebhookError::UnknownSubscription(id.to_string()))
    }

    /// A tenant's subscriptions in id order, from after `after`.
    pub async fn subscriptions(
        &self,
        scope: &Scope,
        tenant_id: &str,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<Subscription>, WebhookError> {
        if !scope.allows(tenant_id) {
            return Ok(Vec::new());
        }
        let tenant = tenant_id.to_string();
        let limit = kernel::page_limit(limit);
        self.inner
            .store
            .read(move |sql| {
                let rows = sql.query(
                    &format!(
                        "SELECT {} FROM webhook_subscriptions \
                         WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                        Subscription::COLUMNS
                    ),
                    &[
                        tenant.into(),
                        after.unwrap_or_default().into(),
                        limit.into(),
                    ],
                )?;
                rows.iter()
                    .map(|r| Subscription::from_row(r).map_err(WebhookError::from))
                    .collect()
            })
            .await
    }

    /// Replaces the signing secret. The old one keeps signing alongside the new one for
    /// `overlap_secs` (default 24 h, at most 7 days; 0 ends it at once), so receivers can
    /// switch without dropping a delivery. Returns the new secret, shown this once.
    pub async fn rotate_secret(
        &self,
        actor: &Actor,
        id: &str,
        overlap_secs: Option<u32>,
    ) -> Result<CreatedSubscription, WebhookError> {
        let overlap_secs = overlap_secs.unwrap_or(DEFAULT_ROTATION_OVERLAP_SECS);
        if overlap_secs > MAX_ROTATION_OVERLAP_SECS {
            return Err(invalid(
                "overlap_secs",
                format!("at most {MAX_ROTATION_OVERLAP_SECS} (7 days)"),
            ));
        }
        let subscription = self.subscription(&actor.scope, id).await?;
        let (secret_name, secret) = self.seal_new_secret(&actor.origin).await?;
        let now = self.now_ms();
        let expires_at_ms = now + i64::from(overlap_secs) * 1_000;
        let (owned, new_name, actor_owned) = (id.to_string(), secret_name.clone(), actor.clone());
        let tenant = subscription.tenant_id.clone();
        let rotated = self
            .inner
            .store
            .write(move |sql| {
                let actor = actor_owned;
                // The previous secret's overlap ends now: its sealed copy goes below.
                let retired = sql
                    .query_opt(
                        "SELECT previous_secret_name FROM webhook_subscriptions WHERE id = $1",
                        &[owned.as_str().into()],
                    )?
                    .and_then(|row| {
                        row.opt_text("previous_secret_name")
                            .ok()
                            .flatten()
                            .map(str::to_string)
                    });
                let details = Some(format!("overlap_secs={overlap_secs}"));
                actor.audit(
                    sql,
                    now,
                    Some(&tenant),
                    "webhook.rotate_secret",
                    &owned,
                    details,
                )?;
                sql.execute(
                    "UPDATE webhook_subscriptions SET \
                     previous_secret = CASE WHEN secret = '' THEN NULL ELSE secret END, \
                     previous_secret_name = secret_name, previous_secret_expires_at_ms = $3, \
                     secret = '', secret_name = $2 WHERE id = $1",
                    &[owned.into(), new_name.into(), Value::Int(expires_at_ms)],
                )?;
                Ok::<_, WebhookError>(retired)
            })
            .await;
        match rotated {
            Ok(retired) => self.forget_secret(retired, &actor.origin).await,
            Err(e) => {
                self.forget_secret(Some(secret_name), &actor.origin).await;
                return Err(e);
            }
        }
        tracing::info!(id, overlap_secs, "webhook secret rotated");
        Ok(CreatedSubscription {
            subscription,
            secret,
        })
    }

    /// Stops a subscription: no new deliveries, and its pending ones fail without being
    /// sent. Kept (disabled) for its delivery log. Disabling twice is not an error.
    pub async fn disable_subscription(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<Subscription, WebhookError> {
        let mut subscription = self.subscription(&actor.scope, id).await?;
        let (owned, actor, now) = (id.to_string(), actor.clone(), self.now_ms());
        let tenant = subscription.tenant_id.clone();
        self.inner
            .store
            .write(move |sql| {
                actor.audit(sql, now, Some(&tenant), "webhook.disable", &owned, None)?;
                sql.execute(
                    "UPDATE webhook_subscriptions SET enabled = 0 WHERE id = $1",
                    &[owned.into()],
                )
            })
            .await?;
        if subscription.enabled {
            tracing::info!(id, "webhook subscription disabled");
        }
        subscription.enabled = false;
        Ok(subscription)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> Vec<IpNet> {
        vec!["127.0.0.0/8".parse().expect("net")]
    }

    #[test]
    fn urls_must_be_https_with_a_host_and_no_credentials() {
        assert!(validate_url("https://erp.example.com/hooks?x=1", false, &[]).is_ok());
        assert!(validate_url("http://127.0.0.1:9000/h", true, &loopback()).is_ok());
        for bad in [
            "http://127.0.0.1:9000/h",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "not a url",
            "https://",
        ] {
            assert!(validate_url(bad, false, &loopback()).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert!(validate_url(&long, false, &[]).is_err());
    }

    /// The eight URLs of issue 22, finding 5, each accepted before.
    const INTERNAL_URLS: [&str; 8] = [
        "https://127.0.0.1:9/x",
        "https://10.0.0.1/x",
        "https://169.254.169.254/latest",
        "https://[::1]/x",
        "https://localhost/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://0.0.0.0/x",
        "https://2130706433/x",
    ];

    #[test]
    fn urls_at_private_or_loopback_addresses_are_refused() {
        for url in INTERNAL_URLS {
            match validate_url(url, false, &[]) {
                Err(WebhookError::InvalidField { field, reason }) => {
                    assert_eq!(field, "url", "{url}");
                    assert_eq!(
                        reason,
                        "points to a private or loopback address; webhooks go to public \
                         addresses only",
                        "{url}"
                    );
                }
                other => panic!("{url}: {other:?}"),
            }
        }
        for public in [
            "https://1.1.1.1/x",
            "https://[2606:4700::1111]/x",
            "https://[::ffff:8.8.8.8]/x",
            "https://hooks.example.com/x",
        ] {
            assert!(validate_url(public, false, &[]).is_ok(), "{public}");
        }
    }

    #[test]
    fn an_allowed_private_network_admits_its_addresses_only() {
        let url = "https://127.0.0.1:9/x";
        assert!(validate_url(url, false, &[]).is_err());
        assert!(validate_url(url, false, &loopback()).is_ok());
        assert!(validate_url("https://[::ffff:127.0.0.1]/x", false, &loopback()).is_ok());
        assert!(validate_url("https://localhost/x", false, &loopback()).is_ok());
        let elsewhere: Vec<IpNet> = vec!["192.168.10.0/24".parse().expect("net")];
        assert!(validate_url(url, false, &elsewhere).is_err());
        assert!(validate_url("https://192.168.10.7/x", false, &elsewhere).is_ok());
        assert!(validate_url("https://192.168.11.7/x", false, &elsewhere).is_err());
        for other in INTERNAL_URLS.iter().filter(|u| {
            !u.contains("127.0.0.1") && !u.contains("2130706433") && !u.contains("localhost")
        }) {
            assert!(validate_url(other, false, &loopback()).is_err(), "{other}");
        }
    }

    #[test]
    fn event_types_are_known_unique_and_star_stands_alone() {
        let types = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            validate_types(&types(&["payment.failed", "invoice.paid"])).ok(),
            Some("invoice.paid,payment.failed".to_string())
        );
        assert_eq!(validate_types(&types(&["*"])).ok(), Some("*".to_string()));
        for bad in [
            &[][..],
            &["invoice.paid", "invoice.paid"][..],
            &["*", "invoice.paid"][..],
            &["invoice.refunded"][..],
        ] {
            assert!(validate_types(&types(bad)).is_err(), "{bad:?}");
        }
    }
}
