//! API keys: create (the secret shown once), list, rotate with an overlap window, revoke,
//! and authenticate a presented key. Each change is audited in the same transaction.
//!
//! Over 500 lines: a key's whole lifecycle, whose checks (constant-time hash, revocation,
//! expiry, rotation overlap, source address) must be read together to be trusted.

use std::net::IpAddr;
use std::sync::Arc;

use audit::{Entry, Outcome};
use ipnet::IpNet;
use kernel::{Actor, Clock, IdSource, Scope};
use store::{Row, Sql, Store, StoreError, Value};
use subtle::ConstantTimeEq;

use crate::key_cache::{KeyCache, StoredKey, CHANNEL};
use crate::pepper::Pepper;
use crate::principal::{Principal, ScopeSet};
use crate::roles::{ApiScope, Role};
use crate::token::{self, ApiKeySecret};
use crate::AccessError;

/// Longest overlap a rotation grants the old key.
pub const MAX_ROTATION_OVERLAP_SECS: u32 = 30 * 24 * 3_600;
const MAX_NAME_CHARS: usize = 100;
const MAX_ALLOWLIST_ENTRIES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// `None`: a platform key that sees every tenant (only a platform admin may make one).
    pub tenant_id: Option<String>,
    pub name: String,
    pub roles: Vec<Role>,
    /// Scopes granted besides the roles'.
    pub scopes: Vec<ApiScope>,
    /// Source addresses the key is accepted from; empty accepts any.
    pub ip_allowlist: Vec<IpNet>,
    pub expires_at_ms: Option<i64>,
    pub rate_tier: String,
}

/// A key as listed: everything but its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    pub id: String,
    pub tenant_id: Option<String>,
    pub name: String,
    pub roles: Vec<Role>,
    pub scopes: Vec<ApiScope>,
    pub ip_allowlist: Vec<IpNet>,
    pub rate_tier: String,
    pub created_at_ms: i64,
    pub created_by: String,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    pub rotated_to: Option<String>,
    /// Who answers for the key: `key:<id>` for a key created out of band (its own
    /// identity), else the identity of the credential that created or rotated it.
    pub owner: String,
}

impl ApiKeyInfo {
    const COLUMNS: &'static str = "id, tenant_id, name, roles, scopes, ip_allowlist, rate_tier, \
        created_at_ms, created_by, expires_at_ms, revoked_at_ms, rotated_to, secret_hash, owner";

    fn from_row(row: &Row) -> Result<Self, StoreError> {
        let decode = |column: &str, detail: String| StoreError::Decode {
            column: column.to_string(),
            detail,
        };
        Ok(Self {
            id: row.text("id")?.to_string(),
            tenant_id: row.opt_text("tenant_id")?.map(str::to_string),
            name: row.text("name")?.to_string(),
            roles: split(row.text("roles")?)
                .map(|r| {
                    r.parse()
                        .map_err(|e: AccessError| decode("roles", e.to_string()))
                })
                .collect::<Result<_, _>>()?,
            scopes: split(row.text("scopes")?)
                .map(|s| {
                    s.parse()
                        .map_err(|e: AccessError| decode("scopes", e.to_string()))
                })
                .collect::<Result<_, _>>()?,
            ip_allowlist: split(row.text("ip_allowlist")?)
                .map(|n| {
                    n.parse()
                        .map_err(|_| decode("ip_allowlist", format!("bad CIDR {n}")))
                })
                .collect::<Result<_, _>>()?,
            rate_tier: row.text("rate_tier")?.to_string(),
            created_at_ms: row.i64("created_at_ms")?,
            created_by: row.text("created_by")?.to_string(),
            expires_at_ms: row.opt_i64("expires_at_ms")?,
            revoked_at_ms: row.opt_i64("revoked_at_ms")?,
            rotated_to: row.opt_text("rotated_to")?.map(str::to_string),
            owner: row.text("owner")?.to_string(),
        })
    }

    /// Usable now: neither revoked nor past its expiry.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.revoked_at_ms.is_none() && self.expires_at_ms.is_none_or(|at| now_ms < at)
    }
}

fn split(stored: &str) -> impl Iterator<Item = &str> {
    stored.split(',').filter(|s| !s.is_empty())
}

fn join<T>(items: &[T], name: impl Fn(&T) -> String) -> String {
    items.iter().map(name).collect::<Vec<_>>().join(",")
}

/// Why a presented key was refused. Callers answer every one the same way (401) and
/// record the reason in the audit trail only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
pub enum AuthFailure {
    #[strum(serialize = "malformed_credential")]
    Malformed,
    #[strum(serialize = "unknown_key")]
    UnknownKey,
    #[strum(serialize = "wrong_secret")]
    WrongSecret,
    #[strum(serialize = "revoked_key")]
    Revoked,
    /// Past its expiry, or rotated out and past the overlap.
    #[strum(serialize = "expired_key")]
    Expired,
    #[strum(serialize = "source_not_allowed")]
    SourceNotAllowed,
}

impl AuthFailure {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

struct Inner {
    store: Store,
    pepper: Pepper,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    cache: Arc<KeyCache>,
}

/// API keys over the store; cheap to clone.
#[derive(Clone)]
pub struct ApiKeys {
    inner: Arc<Inner>,
}

impl ApiKeys {
    pub fn new(
        store: Store,
        pepper: Pepper,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
    ) -> Self {
        let cache = Arc::new(KeyCache::default());
        let listener: std::sync::Weak<dyn store::Listener> = Arc::downgrade(&cache) as _;
        // Without a listening thread (SQLite, or no thread to be had) the cache never goes
        // live and every request reads its key's row.
        let _listening = store.listen(CHANNEL, listener);
        Self {
            inner: Arc::new(Inner {
                store,
                pepper,
                clock,
                ids,
                cache,
            }),
        }
    }

    /// Issues a key; its secret is returned now and never again.
    pub async fn create(
        &self,
        actor: &Actor,
        new: NewApiKey,
    ) -> Result<(ApiKeyInfo, ApiKeySecret), AccessError> {
        let now_ms = self.inner.clock.now_ms();
        validate(actor, &new, now_ms)?;
        let id = self.inner.ids.next_id("key");
        let secret = ApiKeySecret::generate(&id);
        let hash = self.hash_of(&secret);
        let actor = actor.clone();
        let info = self
            .inner
            .store
            .write(move |sql| {
                if let Some(tenant) = &new.tenant_id {
                    if sql
                        .query_opt("SELECT 1 FROM tenants WHERE id = $1", &[tenant.into()])?
                        .is_none()
                    {
                        return Err(AccessError::UnknownTenant);
                    }
                }
                // Out of band (bootstrap, the CLI): an identity of its own. Over the API:
                // the creator's, so a second key is never a second person.
                let owner = if actor.is_out_of_band() {
                    format!("key:{id}")
                } else {
                    actor.identity.clone()
                };
                let info = insert(
                    sql,
                    &id,
                    &new,
                    &hash,
                    now_ms,
                    &actor.origin.actor_id,
                    &owner,
                )?;
                audit::append(
                    sql,
                    &record(&actor, now_ms, "apikey.create", &info, describe(&info)),
                )?;
                Ok(info)
            })
            .await?;
        Ok((info, secret))
    }

    /// Keys the caller's scope sees, oldest first, after `after` (a key id).
    pub async fn list(
        &self,
        scope: &Scope,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<ApiKeyInfo>, AccessError> {
        let scope = scope.clone();
        self.inner
            .store
            .read(move |sql| {
                let limit = i64::from(kernel::page_limit(limit));
                let after = after.unwrap_or_default();
                let rows = match &scope {
                    Scope::All => sql.query(
                        &format!(
                            "SELECT {} FROM api_keys WHERE id > $1 ORDER BY id LIMIT $2",
                            ApiKeyInfo::COLUMNS
                        ),
                        &[after.into(), limit.into()],
                    )?,
                    Scope::Tenant(tenant) => sql.query(
                        &format!(
                            "SELECT {} FROM api_keys WHERE tenant_id = $1 AND id > $2 \
                             ORDER BY id LIMIT $3",
                            ApiKeyInfo::COLUMNS
                        ),
                        &[tenant.into(), after.into(), limit.into()],
                    )?,
                };
                Ok(rows
                    .iter()
                    .map(ApiKeyInfo::from_row)
                    .collect::<Result<_, _>>()?)
            })
            .await
    }

    pub async fn get(&self, scope: &Scope, id: &str) -> Result<ApiKeyInfo, AccessError> {
        let (scope, id) = (scope.clone(), id.to_string());
        self.inner
            .store
            .read(move |sql| load(sql, &scope, &id))
            .await
    }

    /// Issues a successor with the same tenant, roles, scopes, allowlist and tier; the old
    /// key stays valid for `overlap_secs` more (or until its own expiry, if sooner).
    pub async fn rotate(
        &self,
        actor: &Actor,
        id: &str,
        overlap_secs: u32,
    ) -> Result<(ApiKeyInfo, ApiKeySecret), AccessError> {
        if overlap_secs > MAX_ROTATION_OVERLAP_SECS {
            return Err(AccessError::InvalidInput(format!(
                "overlap_secs must be at most {MAX_ROTATION_OVERLAP_SECS}"
            )));
        }
        let now_ms = self.inner.clock.now_ms();
        let new_id = self.inner.ids.next_id("key");
        let secret = ApiKeySecret::generate(&new_id);
        let hash = self.hash_of(&secret);
        let (actor, owned_id) = (actor.clone(), id.to_string());
        let info = self
            .inner
            .store
            .write(move |sql| {
                let id = owned_id;
                let old = load(sql, &actor.scope, &id)?;
                if !old.is_active(now_ms) || old.rotated_to.is_some() {
                    return Err(AccessError::Conflict(format!(
                        "{id} is revoked, expired or already rotated"
                    )));
                }
                let successor = NewApiKey {
                    tenant_id: old.tenant_id.clone(),
                    name: old.name.clone(),
                    roles: old.roles.clone(),
                    scopes: old.scopes.clone(),
                    ip_allowlist: old.ip_allowlist.clone(),
                    expires_at_ms: None,
                    rate_tier: old.rate_tier.clone(),
                };
                // Whoever receives the successor's secret answers for it: rotating another
                // person's key makes it yours (the machine's CLI keeps the owner).
                let owner = if actor.is_out_of_band() {
                    old.owner.clone()
                } else {
                    actor.identity.clone()
                };
                let info = insert(
                    sql,
                    &new_id,
                    &successor,
                    &hash,
                    now_ms,
                    &actor.origin.actor_id,
                    &owner,
                )?;
                let overlap_end = now_ms + i64::from(overlap_secs) * 1_000;
                let old_end = old
                    .expires_at_ms
                    .map_or(overlap_end, |at| at.min(overlap_end));
                sql.execute(
                    "UPDATE api_keys SET expires_at_ms = $1, rotated_to = $2 WHERE id = $3",
                    &[old_end.into(), (&new_id).into(), (&id).into()],
                )?;
                let details = format!("successor={new_id} old_valid_until_ms={old_end}");
                audit::append(sql, &record(&actor, now_ms, "apikey.rotate", &old, details))?;
                Ok(info)
            })
            .await?;
        self.inner.cache.forget(id);
        Ok((info, secret))
    }

    /// Refuses the key from now on: on this replica before this returns, on the others as
    /// soon as they hear the row changed (or read it, over SQLite).
    pub async fn revoke(&self, actor: &Actor, id: &str) -> Result<ApiKeyInfo, AccessError> {
        let now_ms = self.inner.clock.now_ms();
        let (actor, owned_id) = (actor.clone(), id.to_string());
        let revoked = self
            .inner
            .store
            .write(move |sql| {
                let id = owned_id;
                let key = load(sql, &actor.scope, &id)?;
                if key.revoked_at_ms.is_some() {
                    return Err(AccessError::Conflict(format!("{id} is already revoked")));
                }
                sql.execute(
                    "UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2",
                    &[now_ms.into(), (&id).into()],
                )?;
                audit::append(
                    sql,
                    &record(&actor, now_ms, "apikey.revoke", &key, String::new()),
                )?;
                Ok(ApiKeyInfo {
                    revoked_at_ms: Some(now_ms),
                    ..key
                })
            })
            .await?;
        self.inner.cache.forget(id);
        Ok(revoked)
    }

    /// The principal a presented key stands for, or why it is refused. The secret is
    /// checked first, so a caller without it learns nothing about the key's state.
    pub async fn authenticate(
        &self,
        token: &str,
        source: Option<IpAddr>,
    ) -> Result<Result<Principal, AuthFailure>, AccessError> {
        let Some((id, secret)) = token::split(token) else {
            return Ok(Err(AuthFailure::Malformed));
        };
        let presented = self.inner.pepper.hash(secret.as_bytes());
        let now_ms = self.inner.clock.now_ms();
        let stored = match self.inner.cache.get(&id, now_ms) {
            Some(stored) => stored,
            None => match self.read_key(id, now_ms).await? {
                Some(stored) => stored,
                None => return Ok(Err(AuthFailure::UnknownKey)),
            },
        };
        if !bool::from(stored.secret_hash.ct_eq(&presented)) {
            return Ok(Err(AuthFailure::WrongSecret));
        }
        let key = &stored.info;
        if key.revoked_at_ms.is_some() {
            return Ok(Err(AuthFailure::Revoked));
        }
        if !key.is_active(now_ms) {
            return Ok(Err(AuthFailure::Expired));
        }
        let allowed = key.ip_allowlist.is_empty()
            || source.is_some_and(|ip| key.ip_allowlist.iter().any(|net| net.contains(&ip)));
        if !allowed {
            return Ok(Err(AuthFailure::SourceNotAllowed));
        }
        Ok(Ok(Principal {
            credential_id: key.id.clone(),
            subject: key.name.clone(),
            tenant_id: key.tenant_id.clone(),
            scopes: ScopeSet::of(&key.roles, &key.scopes),
            rate_tier: key.rate_tier.clone(),
            identity: key.owner.clone(),
        }))
    }

    /// Whether verified keys are served from memory now: over PostgreSQL while the
    /// notification connection is up; never over SQLite.
    pub fn serves_from_memory(&self) -> bool {
        self.inner.cache.epoch().is_some()
    }

    /// Reads a key's row, keeping it in memory when the cache may (see `key_cache`).
    async fn read_key(
        &self,
        id: String,
        now_ms: i64,
    ) -> Result<Option<Arc<StoredKey>>, AccessError> {
        let epoch = self.inner.cache.epoch();
        let stored = self
            .inner
            .store
            .read_one(move |sql| {
                let Some(row) = sql.query_opt(
                    &format!("SELECT {} FROM api_keys WHERE id = $1", ApiKeyInfo::COLUMNS),
                    &[id.into()],
                )?
                else {
                    return Ok(None);
                };
                Ok::<_, AccessError>(Some(Arc::new(StoredKey {
                    secret_hash: row.blob("secret_hash")?.to_vec(),
                    info: ApiKeyInfo::from_row(&row)?,
                })))
            })
            .await?;
        if let (Some(stored), Some(epoch)) = (&stored, epoch) {
            self.inner.cache.put(epoch, Arc::clone(stored), now_ms);
        }
        Ok(stored)
    }

    fn hash_of(&self, secret: &ApiKeySecret) -> Vec<u8> {
        self.inner
            .pepper
            .hash(secret.secret_part().as_bytes())
            .to_vec()
    }
}

fn validate(actor: &Actor, new: &NewApiKey, now_ms: i64) -> Result<(), AccessError> {
    let invalid = |m: &str| Err(AccessError::InvalidInput(m.to_string()));
    let name = new.name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return invalid("name must be 1-100 printable characters");
    }
    if new.roles.is_empty() && new.scopes.is_empty() {
        return invalid("a key needs at least one role or scope");
    }
    if new.ip_allowlist.len() > MAX_ALLOWLIST_ENTRIES {
        return invalid("ip_allowlist has more than 64 entries");
    }
    if new.expires_at_ms.is_some_and(|at| at <= now_ms) {
        return invalid("expires_at must be in the future");
    }
    let tier_ok = (1..=32).contains(&new.rate_tier.len())
        && new
            .rate_tier
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !tier_ok {
        return invalid("rate_tier must be 1-32 of a-z, 0-9, '-', '_'");
    }
    // The platform's own books are nobody's tenant: a key bound to `system` would read
    // them (and vote on recoveries) as a tenant.
    if new
        .tenant_id
        .as_deref()
        .is_some_and(kernel::is_reserved_tenant_id)
    {
        return invalid("tenant_id names the platform itself; omit it for a platform key");
    }
    // A tenant's administrator issues keys for its own tenant only.
    if let Scope::Tenant(own) = &actor.scope {
        if new.tenant_id.as_ref() != Some(own) {
            return Err(AccessError::Forbidden(
                "a tenant credential issues keys for its own tenant only".into(),
            ));
        }
    }
    Ok(())
}

fn insert(
    sql: &mut dyn Sql,
    id: &str,
    new: &NewApiKey,
    hash: &[u8],
    now_ms: i64,
    created_by: &str,
    owner: &str,
) -> Result<ApiKeyInfo, AccessError> {
    let row = sql.query_one(
        &format!(
            "INSERT INTO api_keys (id, tenant_id, name, secret_hash, roles, scopes, ip_allowlist, \
             rate_tier, created_at_ms, created_by, expires_at_ms, owner) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {}",
            ApiKeyInfo::COLUMNS
        ),
        &[
            id.into(),
            new.tenant_id.clone().into(),
            new.name.trim().into(),
            Value::Blob(hash.to_vec()),
            join(&new.roles, |r| r.as_str().to_string()).into(),
            join(&new.scopes, |s| s.as_str().to_string()).into(),
            join(&new.ip_allowlist, IpNet::to_string).into(),
            (&new.rate_tier).into(),
            now_ms.into(),
            created_by.into(),
            new.expires_at_ms.into(),
            owner.into(),
        ],
    )?;
    Ok(ApiKeyInfo::from_row(&row)?)
}

/// The key `id` if the scope sees it; a key of another tenant is `NotFound`, as if it
/// did not exist.
fn load(sql: &mut dyn Sql, scope: &Scope, id: &str) -> Result<ApiKeyInfo, AccessError> {
    let row = sql
        .query_opt(
            &format!("SELECT {} FROM api_keys WHERE id = $1", ApiKeyInfo::COLUMNS),
            &[id.into()],
        )?
        .ok_or(AccessError::NotFound)?;
    let key = ApiKeyInfo::from_row(&row)?;
    // A platform key is visible to platform credentials only.
    let visible = match &key.tenant_id {
        Some(tenant) => scope.allows(tenant),
        None => *scope == Scope::All,
    };
    if visible {
        Ok(key)
    } else {
        Err(AccessError::NotFound)
    }
}

fn describe(key: &ApiKeyInfo) -> String {
    format!(
        "roles={} scopes={} tier={}",
        join(&key.roles, |r| r.as_str().to_string()),
        join(&key.scopes, |s| s.as_str().to_string()),
        key.rate_tier
    )
}

fn record(actor: &Actor, now_ms: i64, action: &str, key: &ApiKeyInfo, details: String) -> Entry {
    Entry {
        at_ms: now_ms,
        origin: actor.origin.clone(),
        tenant_id: key.tenant_id.clone(),
        action: action.to_string(),
        target: Some(key.id.clone()),
        outcome: Outcome::Success,
        details: (!details.is_empty()).then_some(details),
    }
}
