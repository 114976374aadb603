//! One trusted issuer: who it is, what its tokens must say, how they map to Fulgur.

use std::collections::BTreeMap;

use jsonwebtoken::Algorithm;
use serde::Deserialize;

use crate::OidcError;

/// Clock skew tolerated on `exp` and `nbf` is bounded: a larger one would let an expired
/// token live on.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Exactly the `iss` its tokens carry; discovery is read from
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The `aud` a token must name to be for Fulgur.
    pub audience: String,
    /// Pinned signature algorithms. Default `["RS256"]`; only RS*, PS*, ES256, ES384
    /// and EdDSA are accepted.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Default 60 s, at most [`MAX_CLOCK_SKEW_SECS`].
    #[serde(default = "default_skew")]
    pub clock_skew_secs: u64,
    /// The claim holding role names: a JSON array of strings or a space-separated string.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Maps the provider's role (group) names to Fulgur roles; a name not in the map is
    /// dropped (even one spelled like a Fulgur role).
    #[serde(default)]
    pub role_map: BTreeMap<String, String>,
    /// The claim naming the caller's tenant.
    #[serde(default = "default_tenant_claim")]
    pub tenant_claim: String,
    /// The subjects (`sub`) whose tokens, when they carry no tenant claim, are platform
    /// credentials (see every tenant). Default none: a token without a tenant is refused.
    #[serde(default)]
    pub platform_subjects: Vec<String>,
    /// The rate-limit tier for this issuer's tokens.
    #[serde(default = "default_tier")]
    pub rate_tier: String,
    /// Cached keys are refetched after this long. Default 3600 s.
    #[serde(default = "default_jwks_ttl")]
    pub jwks_ttl_secs: u64,
    /// An unknown `kid` refetches the keys at most this often. Default 30 s.
    #[serde(default = "default_refetch_interval")]
    pub jwks_refetch_min_interval_secs: u64,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".to_string()]
}
fn default_skew() -> u64 {
    60
}
fn default_roles_claim() -> String {
    "roles".to_string()
}
fn default_tenant_claim() -> String {
    "fulgur_tenant".to_string()
}
fn default_tier() -> String {
    "standard".to_string()
}
fn default_jwks_ttl() -> u64 {
    3600
}
fn default_refetch_interval() -> u64 {
    30
}

impl IssuerConfig {
    /// An issuer with every default, for `issuer` and `audience`.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            algorithms: default_algorithms(),
            clock_skew_secs: default_skew(),
            roles_claim: default_roles_claim(),
            role_map: BTreeMap::new(),
            tenant_claim: default_tenant_claim(),
            platform_subjects: Vec::new(),
            rate_tier: default_tier(),
            jwks_ttl_secs: default_jwks_ttl(),
            jwks_refetch_min_interval_secs: default_refetch_interval(),
        }
    }

    /// The pinned algorithms, refusing symmetric ones and an unbounded skew.
    pub(crate) fn pinned(&self) -> Result<Vec<Algorithm>, OidcError> {
        let bad = |why: String| OidcError::Config(format!("issuer {}: {why}", self.issuer));
        if self.clock_skew_secs > MAX_CLOCK_SKEW_SECS {
            return Err(bad(format!(
                "clock_skew_secs {} exceeds {MAX_CLOCK_SKEW_SECS}",
                self.clock_skew_secs
            )));
        }
        if self.issuer.is_empty() || self.audience.is_empty() {
            return Err(bad("issuer and audience are required".to_string()));
        }
        if self.algorithms.is_empty() {
            return Err(bad("at least one algorithm must be pinned".to_string()));
        }
        self.algorithms
            .iter()
            .map(|name| {
                let alg: Algorithm = name
                    .parse()
                    .map_err(|_| bad(format!("unknown algorithm {name:?}")))?;
                match alg {
                    Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Err(bad(format!(
                        "{name} is symmetric; only public-key algorithms may be pinned"
                    ))),
                    _ => Ok(alg),
                }
            })
            .collect()
    }
}
