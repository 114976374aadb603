/// The verifier could not decide (the provider is unreachable and no cached key fits).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("issuer {issuer}: {reason}")]
    Provider { issuer: String, reason: String },
    #[error("issuer configuration: {0}")]
    Config(String),
}

/// Why a token is refused; recorded in the audit trail, never shown in detail to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
pub enum TokenFailure {
    /// Not a JWS compact token, or its header or claims are not JSON of the right shape.
    #[strum(serialize = "oidc_malformed")]
    Malformed,
    /// `iss` names no configured issuer.
    #[strum(serialize = "oidc_unknown_issuer")]
    UnknownIssuer,
    /// The header's `alg` is not pinned for this issuer (`none`, HS*, or simply another).
    #[strum(serialize = "oidc_algorithm_not_allowed")]
    AlgorithmNotAllowed,
    /// No key of the issuer has the token's `kid`, even after a refetch.
    #[strum(serialize = "oidc_unknown_key")]
    UnknownKey,
    #[strum(serialize = "oidc_bad_signature")]
    BadSignature,
    #[strum(serialize = "oidc_expired")]
    Expired,
    #[strum(serialize = "oidc_not_yet_valid")]
    NotYetValid,
    #[strum(serialize = "oidc_wrong_audience")]
    WrongAudience,
    /// The token carries no `sub`.
    #[strum(serialize = "oidc_no_subject")]
    NoSubject,
    /// None of the token's roles maps to a Fulgur role (deny by default).
    #[strum(serialize = "oidc_no_roles")]
    NoRoles,
    /// The token names no tenant and its subject is not a listed platform subject.
    #[strum(serialize = "oidc_no_tenant")]
    NoTenant,
    /// The tenant claim is there but is not a tenant id (null, empty, not a string).
    #[strum(serialize = "oidc_bad_tenant")]
    BadTenant,
}

impl TokenFailure {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}
