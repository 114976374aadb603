/// The verifier could not decide (the provider is unreachable and no cached key fits).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("issuer {issuer}: {reason}")]
    Provider { issuer: String, reason: String },
    #[error("issuer configuration: {0}")]
    Config(String),
}

/// Why a token is refused; recorded in the audit trail, never shown in detail to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFailure {
    /// Not a JWS compact token, or its header or claims are not JSON of the right shape.
    Malformed,
    /// `iss` names no configured issuer.
    UnknownIssuer,
    /// The header's `alg` is not pinned for this issuer (`none`, HS*, or simply another).
    AlgorithmNotAllowed,
    /// No key of the issuer has the token's `kid`, even after a refetch.
    UnknownKey,
    BadSignature,
    Expired,
    NotYetValid,
    WrongAudience,
    /// The token carries no `sub`.
    NoSubject,
    /// None of the token's roles maps to a Fulgur role (deny by default).
    NoRoles,
    /// The token names no tenant and its subject is not a listed platform subject.
    NoTenant,
    /// The tenant claim is there but is not a tenant id (null, empty, not a string).
    BadTenant,
}

impl TokenFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenFailure::Malformed => "oidc_malformed",
            TokenFailure::UnknownIssuer => "oidc_unknown_issuer",
            TokenFailure::AlgorithmNotAllowed => "oidc_algorithm_not_allowed",
            TokenFailure::UnknownKey => "oidc_unknown_key",
            TokenFailure::BadSignature => "oidc_bad_signature",
            TokenFailure::Expired => "oidc_expired",
            TokenFailure::NotYetValid => "oidc_not_yet_valid",
            TokenFailure::WrongAudience => "oidc_wrong_audience",
            TokenFailure::NoSubject => "oidc_no_subject",
            TokenFailure::NoRoles => "oidc_no_roles",
            TokenFailure::NoTenant => "oidc_no_tenant",
            TokenFailure::BadTenant => "oidc_bad_tenant",
        }
    }
}
