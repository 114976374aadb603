//! Shared by the API's tests: the guard over a store, with a platform admin key issued.
//! Each test binary uses a part.
#![allow(dead_code)]

use std::sync::Arc;

use access::{ApiKeys, NewApiKey, Pepper, Role};
use api::{Auth, RateLimitConfig};
use kernel::{Actor, RandomIds, SystemClock};

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

/// A platform key made out of band (as `fulgur apikey create` on the machine makes it):
/// a person of its own to the rules that need two people, unlike a key an administrator
/// mints over the API (which answers to that administrator). Its id and its secret.
pub async fn out_of_band_key(
    store: &store::Store,
    name: &str,
    roles: &[Role],
    scopes: &[access::ApiScope],
) -> (String, String) {
    let (info, secret) = keys(store)
        .create(
            &Actor::system("cli"),
            NewApiKey {
                tenant_id: None,
                name: name.into(),
                roles: roles.to_vec(),
                scopes: scopes.to_vec(),
                ip_allowlist: vec![],
                expires_at_ms: None,
                rate_tier: "standard".into(),
            },
        )
        .await
        .expect("out-of-band key");
    (info.id, secret.expose().to_string())
}

/// A second platform administrator, made out of band.
pub async fn out_of_band_admin(store: &store::Store) -> String {
    out_of_band_key(store, "second admin", &[Role::Admin], &[])
        .await
        .1
}
