//! Tokens from a real OIDC provider process (oauth2-mock-server), verified through its
//! real discovery document and JWKS over HTTP.

#![allow(clippy::unwrap_used)] // a test: a panic is the failure report

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use access::{ApiScope, Role, ScopeSet};
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use oidc::testing::Provider;
use oidc::{HttpKeySource, IssuerConfig, KeySource, OidcVerifier, TokenFailure};
use serde_json::{json, Value};

const AUDIENCE: &str = "fulgur-api";

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    i64::try_from(since.as_millis()).expect("ms")
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

/// Counts fetches, to see the refetch rate limit.
struct Counting {
    inner: HttpKeySource,
    fetches: AtomicUsize,
}

#[async_trait]
impl KeySource for Counting {
    async fn fetch(&self, issuer: &str) -> Result<JwkSet, String> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.inner.fetch(issuer).await
    }
}

fn config(provider: &Provider) -> IssuerConfig {
    let mut config = IssuerConfig::new(&provider.issuer, AUDIENCE);
    config
        .role_map
        .insert("payments-team".to_string(), "integration".to_string());
    config
}

fn verifier_of(configs: Vec<IssuerConfig>) -> (OidcVerifier, Arc<Counting>) {
    let source = Arc::new(Counting {
        inner: HttpKeySource::new().expect("client"),
        fetches: AtomicUsize::new(0),
    });
    let verifier = OidcVerifier::new(configs, source.clone()).expect("valid config");
    (verifier, source)
}

fn claims(extra: Value) -> Value {
    let mut base = json!({ "sub": "svc-erp", "roles": ["payments-team"], "fulgur_tenant": "acme" });
    for (k, v) in extra.as_object().expect("object") {
        base[k] = v.clone();
    }
    base
}

async fn refused(verifier: &OidcVerifier, token: &str) -> TokenFailure {
    verifier
        .verify(token, now_ms())
        .await
        .expect("decidable")
        .expect_err("refused")
}

#[tokio::test]
async fn a_providers_token_maps_to_roles_and_tenant() {
    let provider = Provider::start().await;
    let (verifier, _) = verifier_of(vec![config(&provider)]);
    let token = provider.token(AUDIENCE, claims(json!({}))).await;
    let principal = verifier
        .verify(&token, now_ms())
        .await
        .expect("decidable")
        .expect("accepted");
    assert_eq!(principal.subject, "svc-erp");
    assert_eq!(principal.tenant_id.as_deref(), Some("acme"));
    assert_eq!(principal.scopes, ScopeSet::of(&[Role::Integration], &[]));
    assert!(principal.allows(ApiScope::PaymentsWrite));
    assert!(!principal.allows(ApiScope::AuditRead));
    assert_eq!(
        principal.credential_id,
        format!("oidc:{}#svc-erp", provider.issuer)
    );

    // A space-separated roles claim; unmapped names are dropped, even Fulgur's own.
    let token = provider
        .token(
            AUDIENCE,
            claims(json!({ "roles": "payments-team admin unknown-group" })),
        )
        .await;
    let principal = verifier.verify(&token, now_ms()).await.unwrap().unwrap();
    assert_eq!(principal.scopes, ScopeSet::of(&[Role::Integration], &[]));
    assert!(!principal.allows(ApiScope::Admin));
    let token = provider
        .token(AUDIENCE, claims(json!({ "roles": ["admin", "auditor"] })))
        .await;
    assert_eq!(refused(&verifier, &token).await, TokenFailure::NoRoles);
}

#[tokio::test]
async fn claims_that_do_not_fit_are_refused() {
    let provider = Provider::start().await;
    let mut platform = config(&provider);
    let (verifier, _) = verifier_of(vec![config(&provider)]);
    let cases = [
        (
            json!({ "iss": "https://evil.example" }),
            TokenFailure::UnknownIssuer,
        ),
        (json!({ "exp": now_secs() - 3600 }), TokenFailure::Expired),
        (
            json!({ "nbf": now_secs() + 3600 }),
            TokenFailure::NotYetValid,
        ),
        (json!({ "roles": ["unknown-group"] }), TokenFailure::NoRoles),
        (json!({ "roles": [] }), TokenFailure::NoRoles),
        (json!({ "fulgur_tenant": null }), TokenFailure::BadTenant),
        (json!({ "sub": null }), TokenFailure::NoSubject),
    ];
    for (extra, expected) in cases {
        let token = provider.token(AUDIENCE, claims(extra.clone())).await;
        assert_eq!(refused(&verifier, &token).await, expected, "{extra}");
    }
    let wrong_audience = provider.token("someone-else", claims(json!({}))).await;
    assert_eq!(
        refused(&verifier, &wrong_audience).await,
        TokenFailure::WrongAudience
    );

    // Within the bounded skew (60 s by default) a just-expired token still passes.
    let just_expired = provider
        .token(AUDIENCE, claims(json!({ "exp": now_secs() - 30 })))
        .await;
    assert!(verifier
        .verify(&just_expired, now_ms())
        .await
        .unwrap()
        .is_ok());

    // A token without the tenant claim is refused unless its subject is a listed platform
    // subject; a malformed tenant never makes a platform credential.
    let no_tenant = |sub: &str| {
        let mut c = claims(json!({ "sub": sub }));
        c.as_object_mut().expect("object").remove("fulgur_tenant");
        c
    };
    let token = provider.token(AUDIENCE, no_tenant("svc-erp")).await;
    assert_eq!(refused(&verifier, &token).await, TokenFailure::NoTenant);
    platform.platform_subjects = vec!["ops-console".to_string()];
    let (platform_verifier, _) = verifier_of(vec![platform]);
    let token = provider.token(AUDIENCE, no_tenant("ops-console")).await;
    let principal = platform_verifier
        .verify(&token, now_ms())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(principal.tenant_id, None);
    let token = provider.token(AUDIENCE, no_tenant("svc-erp")).await;
    assert_eq!(
        refused(&platform_verifier, &token).await,
        TokenFailure::NoTenant
    );
    for malformed in [
        json!(null),
        json!(""),
        json!(42),
        json!(["acme"]),
        json!("platform"),
        json!("a/b"),
    ] {
        let token = provider
            .token(
                AUDIENCE,
                claims(json!({ "sub": "ops-console", "fulgur_tenant": malformed.clone() })),
            )
            .await;
        assert_eq!(
            refused(&platform_verifier, &token).await,
            TokenFailure::BadTenant,
            "{malformed}"
        );
    }
}

fn forge(header: Value, token: &str, signature: &[u8]) -> String {
    let payload = token.split('.').nth(1).expect("payload");
    let header = URL_SAFE_NO_PAD.encode(header.to_string());
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[tokio::test]
async fn forged_and_confused_tokens_are_refused() {
    let provider = Provider::start().await;
    let (verifier, _) = verifier_of(vec![config(&provider)]);
    let token = provider.token(AUDIENCE, claims(json!({}))).await;
    let kid = {
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        header["kid"].as_str().unwrap().to_string()
    };

    // alg=none with an empty signature.
    let none = forge(json!({ "alg": "none", "kid": kid }), &token, b"");
    assert_eq!(
        refused(&verifier, &none).await,
        TokenFailure::AlgorithmNotAllowed
    );

    // Algorithm confusion: HS256 keyed with the issuer's public key as published.
    let jwks: Value = reqwest::get(format!("{}/jwks", provider.issuer))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public = jwks["keys"][0].to_string();
    let header = json!({ "alg": "HS256", "kid": kid, "typ": "JWT" });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        token.split('.').nth(1).unwrap()
    );
    let mac = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
        jsonwebtoken::Algorithm::HS256,
    )
    .unwrap();
    let confused = format!("{signing_input}.{mac}");
    assert_eq!(
        refused(&verifier, &confused).await,
        TokenFailure::AlgorithmNotAllowed
    );

    // A pinned HS* algorithm is refused as configuration.
    let mut symmetric = config(&provider);
    symmetric.algorithms = vec!["HS256".to_string()];
    assert!(OidcVerifier::new(vec![symmetric], Arc::new(HttpKeySource::new().unwrap())).is_err());

    // A payload changed after signing.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    payload["fulgur_tenant"] = json!("globex");
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    assert_eq!(
        refused(&verifier, &parts.join(".")).await,
        TokenFailure::BadSignature
    );

    // ES256 is a real key of the provider, but only RS256 is pinned.
    let es_kid = provider.rotate("ES256").await;
    let es = provider
        .mint(&es_kid, claims(json!({ "aud": AUDIENCE })))
        .await;
    assert_eq!(
        refused(&verifier, &es).await,
        TokenFailure::AlgorithmNotAllowed
    );

    for garbage in ["", "a.b", "a.b.c", "not a token at all"] {
        assert_eq!(refused(&verifier, garbage).await, TokenFailure::Malformed);
    }
}

#[tokio::test]
async fn a_rotated_key_is_fetched_and_made_up_kids_are_rate_limited() {
    let provider = Provider::start().await;
    let (verifier, source) = verifier_of(vec![config(&provider)]);
    let first = provider.token(AUDIENCE, claims(json!({}))).await;
    let start = now_ms();
    assert!(verifier.verify(&first, start).await.unwrap().is_ok());
    assert_eq!(source.fetches.load(Ordering::SeqCst), 1);

    // The provider rotates. Within 30 s of the last fetch an unknown kid is refused
    // without asking the provider again; after that, it refetches once and accepts.
    let kid = provider.rotate("RS256").await;
    let rotated = provider
        .mint(&kid, claims(json!({ "aud": AUDIENCE })))
        .await;
    assert_eq!(
        verifier.verify(&rotated, start + 1_000).await.unwrap(),
        Err(TokenFailure::UnknownKey)
    );
    assert_eq!(source.fetches.load(Ordering::SeqCst), 1, "rate limited");
    let later = start + 31_000;
    assert!(verifier.verify(&rotated, later).await.unwrap().is_ok());
    assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    assert!(verifier.verify(&rotated, later).await.unwrap().is_ok());
    assert_eq!(source.fetches.load(Ordering::SeqCst), 2, "cached");

    // Tokens under keys the issuer never published: signed by another provider process
    // that claims to be this issuer. A flood of them costs one refetch per interval.
    let impostor = Provider::start().await;
    let forged = impostor
        .token(
            AUDIENCE,
            claims(json!({ "iss": provider.issuer, "aud": AUDIENCE })),
        )
        .await;
    for _ in 0..5 {
        assert_eq!(
            verifier.verify(&forged, later).await.unwrap(),
            Err(TokenFailure::UnknownKey)
        );
    }
    assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    assert_eq!(
        verifier.verify(&forged, later + 31_000).await.unwrap(),
        Err(TokenFailure::UnknownKey)
    );
    assert_eq!(source.fetches.load(Ordering::SeqCst), 3);
    // The genuine rotated key still verifies from the cache.
    assert!(verifier
        .verify(&rotated, later + 31_000)
        .await
        .unwrap()
        .is_ok());
    assert_eq!(source.fetches.load(Ordering::SeqCst), 3);
}
