//! `oidc`: OAuth2 / OpenID Connect bearer tokens as Fulgur credentials (SPEC §5.3).
//!
//! Each configured issuer names its audience, the signature algorithms it may use
//! (asymmetric only: `none` and HS* are refused, so a public key can never be used as an
//! HMAC secret), the bounded clock skew, and how its claims map to roles and a tenant.
//! Signing keys come from the issuer's discovery document and JWKS, cached; a token
//! signed by a key not in the cache triggers one refetch, at most once per configured
//! interval, so a flood of made-up `kid`s cannot hammer the provider.
//!
//! Time is injected (`now_ms`), the provider is behind [`KeySource`], and the crate knows
//! nothing of Fulgur's HTTP API: it turns a token into an [`access::Principal`] or says
//! why not.

mod claims;
mod config;
mod error;
mod keys;
#[cfg(feature = "testing")]
pub mod testing;
mod verifier;

pub use crate::config::{IssuerConfig, MAX_CLOCK_SKEW_SECS};
pub use crate::error::{OidcError, TokenFailure};
pub use crate::keys::{HttpKeySource, KeySource};
pub use crate::verifier::OidcVerifier;
