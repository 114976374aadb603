//! Token → principal: pick the issuer, check the pinned algorithm, find the key (refetching
//! at most once per interval), verify signature, audience, expiry and not-before.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use access::Principal;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{claims, IssuerConfig, KeySource, OidcError, TokenFailure};

/// A token longer than this is refused before any parsing.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

struct Key {
    decoding: DecodingKey,
    /// The JWK's own `alg`, when it names one: the token's must then be the same.
    alg: Option<String>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, Arc<Key>>,
    fetched_at_ms: Option<i64>,
    last_attempt_ms: Option<i64>,
}

struct Issuer {
    config: IssuerConfig,
    algorithms: Vec<Algorithm>,
    cache: RwLock<KeyCache>,
    /// One refetch at a time per issuer; waiters then read what it brought.
    refetch: tokio::sync::Mutex<()>,
}

/// Verifies bearer tokens of the configured issuers; cheap to share behind an `Arc`.
pub struct OidcVerifier {
    issuers: HashMap<String, Issuer>,
    source: Arc<dyn KeySource>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct IssuerOnly {
    iss: String,
}

fn segment<T: DeserializeOwned>(part: &str) -> Result<T, TokenFailure> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenFailure::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenFailure::Malformed)
}

impl OidcVerifier {
    /// Refuses a configuration that pins a symmetric algorithm, an unbounded skew, or
    /// the same issuer twice.
    pub fn new(configs: Vec<IssuerConfig>, source: Arc<dyn KeySource>) -> Result<Self, OidcError> {
        let mut issuers = HashMap::new();
        for config in configs {
            let algorithms = config.pinned()?;
            let name = config.issuer.clone();
            let issuer = Issuer {
                config,
                algorithms,
                cache: RwLock::new(KeyCache::default()),
                refetch: tokio::sync::Mutex::new(()),
            };
            if issuers.insert(name.clone(), issuer).is_some() {
                return Err(OidcError::Config(format!("issuer {name} configured twice")));
            }
        }
        Ok(Self { issuers, source })
    }

    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// Fetches every issuer's keys now, so a misconfigured issuer shows at startup.
    pub async fn warm(&self, now_ms: i64) -> Result<(), OidcError> {
        for issuer in self.issuers.values() {
            self.refresh(issuer, now_ms).await?;
        }
        Ok(())
    }

    /// `Ok(Err(_))`: the token is refused; `Err(_)`: it could not be checked now.
    pub async fn verify(
        &self,
        token: &str,
        now_ms: i64,
    ) -> Result<Result<Principal, TokenFailure>, OidcError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Ok(Err(TokenFailure::Malformed));
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [header_part, payload_part, _] = parts[..] else {
            return Ok(Err(TokenFailure::Malformed));
        };
        let (header, claimed) = match (
            segment::<Header>(header_part),
            segment::<IssuerOnly>(payload_part),
        ) {
            (Ok(header), Ok(claimed)) => (header, claimed),
            (Err(why), _) | (_, Err(why)) => return Ok(Err(why)),
        };
        let Some(issuer) = self.issuers.get(&claimed.iss) else {
            return Ok(Err(TokenFailure::UnknownIssuer));
        };
        // `none` and anything unknown fail to parse; HS* are never pinned.
        let alg = match Algorithm::from_str(&header.alg) {
            Ok(alg) if issuer.algorithms.contains(&alg) => alg,
            _ => return Ok(Err(TokenFailure::AlgorithmNotAllowed)),
        };
        let Some(key) = self.key(issuer, header.kid.as_deref(), now_ms).await? else {
            return Ok(Err(TokenFailure::UnknownKey));
        };
        if key.alg.as_deref().is_some_and(|k| k != header.alg) {
            return Ok(Err(TokenFailure::AlgorithmNotAllowed));
        }
        Ok(check(issuer, token, alg, &key, now_ms))
    }

    async fn key(
        &self,
        issuer: &Issuer,
        kid: Option<&str>,
        now_ms: i64,
    ) -> Result<Option<Arc<Key>>, OidcError> {
        let ttl_ms = secs_ms(issuer.config.jwks_ttl_secs);
        let fresh = |cache: &KeyCache| cache.fetched_at_ms.is_some_and(|at| now_ms - at < ttl_ms);
        {
            let cache = read(&issuer.cache);
            if fresh(&cache) {
                if let Some(key) = lookup(&cache, kid) {
                    return Ok(Some(key));
                }
            }
        }
        let _one_at_a_time = issuer.refetch.lock().await;
        let interval_ms = secs_ms(issuer.config.jwks_refetch_min_interval_secs);
        {
            let cache = read(&issuer.cache);
            let found = lookup(&cache, kid);
            if fresh(&cache) && found.is_some() {
                return Ok(found);
            }
            let recently = cache
                .last_attempt_ms
                .is_some_and(|at| now_ms - at < interval_ms);
            if fresh(&cache) && recently {
                return Ok(None);
            }
        }
        match self.refresh(issuer, now_ms).await {
            Ok(()) => Ok(lookup(&read(&issuer.cache), kid)),
            Err(error) => {
                // A stale key still verifies while the provider is away.
                let stale = lookup(&read(&issuer.cache), kid);
                if stale.is_some() {
                    tracing::warn!(%error, "using cached OIDC keys; refetch failed");
                }
                stale.map(Some).ok_or(error)
            }
        }
    }

    async fn refresh(&self, issuer: &Issuer, now_ms: i64) -> Result<(), OidcError> {
        let name = &issuer.config.issuer;
        write(&issuer.cache).last_attempt_ms = Some(now_ms);
        let set = self
            .source
            .fetch(name)
            .await
            .map_err(|reason| OidcError::Provider {
                issuer: name.clone(),
                reason,
            })?;
        let keys = usable_keys(&set);
        tracing::info!(issuer = %name, keys = keys.len(), "OIDC signing keys fetched");
        let mut cache = write(&issuer.cache);
        cache.keys = keys;
        cache.fetched_at_ms = Some(now_ms);
        Ok(())
    }
}

fn secs_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

fn read(lock: &RwLock<KeyCache>) -> std::sync::RwLockReadGuard<'_, KeyCache> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write(lock: &RwLock<KeyCache>) -> std::sync::RwLockWriteGuard<'_, KeyCache> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A token without `kid` is accepted only when the issuer has exactly one key.
fn lookup(cache: &KeyCache, kid: Option<&str>) -> Option<Arc<Key>> {
    match kid {
        Some(kid) => cache.keys.get(kid).cloned(),
        None if cache.keys.len() == 1 => cache.keys.values().next().cloned(),
        None => None,
    }
}

/// Signature keys with a `kid` that parse; encryption keys and oddities are skipped.
fn usable_keys(set: &JwkSet) -> HashMap<String, Arc<Key>> {
    set.keys
        .iter()
        .filter(|jwk| !matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature))
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let decoding = DecodingKey::from_jwk(jwk).ok()?;
            let alg = jwk.common.key_algorithm.map(|a| format!("{a:?}"));
            Some((kid, Arc::new(Key { decoding, alg })))
        })
        .collect()
}

/// Signature, issuer and audience by `jsonwebtoken`; time against the injected clock
/// with the issuer's bounded skew.
fn check(
    issuer: &Issuer,
    token: &str,
    alg: Algorithm,
    key: &Key,
    now_ms: i64,
) -> Result<Principal, TokenFailure> {
    let config = &issuer.config;
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.set_issuer(&[&config.issuer]);
    validation.set_audience(&[&config.audience]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => TokenFailure::BadSignature,
            ErrorKind::InvalidAudience => TokenFailure::WrongAudience,
            ErrorKind::InvalidIssuer => TokenFailure::UnknownIssuer,
            ErrorKind::InvalidAlgorithm => TokenFailure::AlgorithmNotAllowed,
            ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => TokenFailure::WrongAudience,
            _ => TokenFailure::Malformed,
        })?;
    let claims = data.claims;
    let now_secs = now_ms.div_euclid(1000);
    let skew = i64::try_from(config.clock_skew_secs).unwrap_or(0);
    let time = |name: &str| claims.get(name).map(Value::as_i64);
    match time("exp") {
        Some(Some(exp)) if now_secs <= exp.saturating_add(skew) => {}
        Some(Some(_)) => return Err(TokenFailure::Expired),
        _ => return Err(TokenFailure::Malformed),
    }
    match time("nbf") {
        None => {}
        Some(Some(nbf)) if now_secs.saturating_add(skew) >= nbf => {}
        Some(Some(_)) => return Err(TokenFailure::NotYetValid),
        Some(None) => return Err(TokenFailure::Malformed),
    }
    claims::principal(config, &claims)
}
