//! Shared by the API's tests: the guard over a store, with a platform admin key issued.

use std::sync::Arc;

use access::{ApiKeys, NewApiKey, Pepper, Role};
use api::{Auth, RateLimitConfig};
use gateway::{Actor, RandomIds, SystemClock};

/// The test's pepper (a real server reads its file).
pub const PEPPER: [u8; 32] = [42; 32];

pub fn keys(store: &store::Store) -> ApiKeys {
    ApiKeys::new(
        store.clone(),
        Pepper::from_bytes(PEPPER),
        Arc::new(SystemClock),
        Arc::new(RandomIds),
    )
}

/// The guard with `limits`, and a platform admin key for it.
pub async fn admin_auth(
    store: &store::Store,
    limits: &RateLimitConfig,
    oidc: Option<Arc<oidc::OidcVerifier>>,
) -> (Auth, String) {
    let keys = keys(store);
    let (_, secret) = keys
        .create(
            &Actor::system("test-setup"),
            NewApiKey {
                tenant_id: None,
                name: "test admin".into(),
                roles: vec![Role::Admin],
                scopes: vec![],
                ip_allowlist: vec![],
                expires_at_ms: None,
                rate_tier: "standard".into(),
            },
        )
        .await
        .expect("admin key");
    let auth = Auth::new(
        keys,
        oidc,
        store.clone(),
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        limits,
        // The tests stand as a TLS-terminating proxy on loopback: a request's
        // `X-Forwarded-For` names the client (none: loopback itself).
        api::TrustedProxies::new(
            vec!["127.0.0.1/32".parse().expect("net")],
            api::ForwardedHeader::XForwardedFor,
        ),
    );
    (auth, secret.expose().to_string())
}
