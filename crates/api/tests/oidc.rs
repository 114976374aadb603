//! OIDC bearer tokens over real HTTPS against the real server, on both stores, with tokens
//! from a real provider process (oauth2-mock-server): roles and tenant from claims, tenant
//! isolation, refusals for every way a token can be wrong, and the audit trail naming the
//! token's subject.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use api::RateLimitConfig;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use oidc::testing::Provider;
use oidc::{HttpKeySource, IssuerConfig, OidcVerifier};
use reqwest::StatusCode;
use serde_json::{json, Value};
use store::testing::TestStore;

mod common;
mod guarded;

store::on_both_stores!(tokens_are_credentials_bound_to_roles_and_tenant,);

const AUDIENCE: &str = "fulgur";

fn now_secs() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    i64::try_from(since.as_secs()).expect("secs")
}

async fn tokens_are_credentials_bound_to_roles_and_tenant(t: TestStore) {
    let provider = Provider::start().await;
    let mut issuer = IssuerConfig::new(&provider.issuer, AUDIENCE);
    issuer
        .role_map
        .insert("erp-systems".to_string(), "integration".to_string());
    issuer
        .role_map
        .insert("audit-team".to_string(), "auditor".to_string());
    let verifier = OidcVerifier::new(
        vec![issuer],
        Arc::new(HttpKeySource::new().expect("client")),
    )
    .expect("config");
    let s = guarded::server_with(
        t.store.clone(),
        RateLimitConfig::default(),
        Some(Arc::new(verifier)),
    )
    .await;
    s.tenant("acme").await;
    s.tenant("globex").await;
    let (_, foreign) = s
        .call(
            &s.admin,
            "POST",
            "/v1/accounts",
            Some(json!({"tenant_id": "globex", "name": "theirs"})),
        )
        .await;
    let foreign = foreign["id"].as_str().expect("id").to_string();
    let token = |claims: Value| {
        let base = json!({"sub": "erp-1", "roles": ["erp-systems"], "fulgur_tenant": "acme"});
        let mut merged = base.as_object().expect("object").clone();
        merged.extend(claims.as_object().expect("object").clone());
        provider.token(AUDIENCE, Value::Object(merged))
    };

    // An integration token of acme works on acme, and globex's data does not exist for it.
    let erp = token(json!({})).await;
    let (status, created) = s
        .call(
            &erp,
            "POST",
            "/v1/accounts",
            Some(json!({"tenant_id": "acme", "name": "ops"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _) = s
        .call(&erp, "GET", &format!("/v1/accounts/{foreign}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .call(
            &erp,
            "POST",
            "/v1/accounts",
            Some(json!({"tenant_id": "globex", "name": "mine now"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no tenant it may use"
    );
    let (_, listed) = s
        .call(&erp, "GET", "/v1/accounts?tenant_id=acme", None)
        .await;
    let listed = listed["data"].as_array().expect("data");
    assert!(!listed.is_empty() && listed.iter().all(|a| a["tenant_id"] == "acme"));
    let (_, theirs) = s
        .call(&erp, "GET", "/v1/accounts?tenant_id=globex", None)
        .await;
    assert!(!theirs.to_string().contains(&foreign), "{theirs}");

    // An auditor token may read but not write; the role decides, not the issuer.
    let auditor = token(json!({"roles": ["audit-team"]})).await;
    assert_eq!(
        s.call(&auditor, "GET", "/v1/audit", None).await.0,
        StatusCode::OK
    );
    let (status, problem) = s
        .call(
            &auditor,
            "POST",
            "/v1/accounts",
            Some(json!({"tenant_id": "acme", "name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");

    // Every way a token can be wrong is a 401 with a Bearer challenge.
    let real = token(json!({})).await;
    let payload = real.split('.').nth(1).expect("payload");
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string())
    );
    let wrong = [
        ("expired", token(json!({"exp": now_secs() - 600})).await),
        (
            "not yet valid",
            token(json!({"nbf": now_secs() + 600})).await,
        ),
        (
            "wrong issuer",
            token(json!({"iss": "https://idp.evil"})).await,
        ),
        (
            "wrong audience",
            provider
                .token(
                    "other-api",
                    json!({"sub": "x", "roles": ["admin"], "fulgur_tenant": "acme"}),
                )
                .await,
        ),
        ("no role", token(json!({"roles": ["nobody"]})).await),
        ("no tenant", token(json!({"fulgur_tenant": null})).await),
        ("alg none", none),
    ];
    for (why, bad) in &wrong {
        let response = s
            .send(bad, "GET", "/v1/accounts?tenant_id=acme", None)
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{why}");
    }

    // The trail names the token's subject for what it did and why tokens were refused.
    let (_, page) = s.call(&s.admin, "GET", "/v1/audit?limit=500", None).await;
    let records = page["data"].as_array().expect("data");
    let created = records
        .iter()
        .find(|r| {
            r["action"] == "account.create" && r["outcome"] == "success" && r["subject"] == "erp-1"
        })
        .unwrap_or_else(|| panic!("no account.create by erp-1 in {page}"));
    assert_eq!(
        created["actor_id"],
        format!("oidc:{}#erp-1", provider.issuer)
    );
    assert_eq!(created["tenant_id"], "acme");
    let refusals: Vec<&str> = records
        .iter()
        .filter(|r| r["action"] == "auth.failure")
        .filter_map(|r| r["details"].as_str())
        .collect();
    for expected in [
        "oidc_expired",
        "oidc_not_yet_valid",
        "oidc_unknown_issuer",
        "oidc_wrong_audience",
        "oidc_no_roles",
        "oidc_bad_tenant",
        "oidc_algorithm_not_allowed",
    ] {
        assert!(refusals.contains(&expected), "{expected} in {refusals:?}");
    }
    assert!(!page.to_string().contains(&erp), "no token in the trail");
    s.shut_down().await;
}
