//! Zero-trust access over real HTTPS against the real server, on both stores: every
//! endpoint × every role × own and foreign tenant; API keys issued, scoped, revoked,
//! rotated out, expired and address-bound; exact rate limits; throttled authentication
//! failures; request ids and security headers; and the audit trail of all of it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use api::{RateLimitConfig, RateTier};
use reqwest::StatusCode;
use serde_json::{json, Value};
use store::testing::TestStore;

mod common;
mod guarded;

use guarded::{server, Server};

store::on_both_stores!(
    every_endpoint_every_role_own_and_foreign_tenant,
    keys_are_issued_scoped_revoked_rotated_expired_and_address_bound,
    rate_limits_and_failure_throttling_are_exact,
    tenant_quotas_are_counted_shared_and_enforced,
    requests_carry_ids_and_security_headers_and_everything_is_audited,
    a_policy_change_over_http_needs_a_second_admin,
    a_rule_change_over_http_needs_a_second_officer,
);

/// What each role may do, written out independently of the code under test.
fn role_scopes(role: &str) -> &'static [&'static str] {
    match role {
        "admin" => &["admin"],
        "operator" => &[
            "metrics:read",
            "nodes:read",
            "ledger:read",
            "accounts:read",
            "invoices:read",
            "payments:read",
            "webhooks:read",
            "webhooks:write",
        ],
        "approver" => &["approvals:write", "payments:read", "accounts:read"],
        "compliance" => &[
            "compliance:read",
            "compliance:write",
            "payments:read",
            "invoices:read",
            "accounts:read",
            "audit:read",
        ],
        "auditor" => &[
            "audit:read",
            "ledger:read",
            "accounts:read",
            "invoices:read",
            "payments:read",
        ],
        "integration" => &[
            "accounts:read",
            "accounts:write",
            "invoices:read",
            "invoices:write",
            "payments:read",
            "payments:write",
            "webhooks:read",
            "webhooks:write",
        ],
        other => panic!("unknown role {other}"),
    }
}

const ROLES: [&str; 6] = [
    "admin",
    "operator",
    "approver",
    "compliance",
    "auditor",
    "integration",
];

/// The exact status an allowed call answers: (a tenant credential on its own tenant's
/// things, on a foreign tenant's, a platform credential); 0 where it never happens. The
/// matrix runs in a fixed order, so stateful answers are exact too (a key revoked by the
/// tenant's admin is already revoked, 409, when the platform's admin comes).
type Expect = (u16, u16, u16);

/// Every endpoint, the scope it needs, its audience (`platform`: platform credentials
/// only; `tenant`: a tenant's credential within its tenant, or a platform one), a
/// request for it (`{tenant}`, `{account}`, `{webhook}`, `{key}` filled per tenant), and
/// what an allowed call answers. Written out independently of the route table; a route
/// missing here fails the test.
/// (method, path, scope, audience, body, what an allowed call answers).
type Endpoint = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Expect,
);

const ENDPOINTS: &[Endpoint] = &[
    (
        "POST",
        "/v1/tenants",
        "admin",
        "platform",
        Some(r#"{"id":"new_{n}","name":"New {n}"}"#),
        (0, 0, 201),
    ),
    (
        "POST",
        "/v1/accounts",
        "accounts:write",
        "tenant",
        Some(r#"{"tenant_id":"{tenant}","name":"acct {n}"}"#),
        (201, 422, 201),
    ),
    (
        "GET",
        "/v1/accounts?tenant_id={tenant}",
        "accounts:read",
        "tenant",
        None,
        (200, 200, 200),
    ),
    (
        "GET",
        "/v1/accounts/{account}",
        "accounts:read",
        "tenant",
        None,
        (200, 404, 200),
    ),
    (
        "GET",
        "/v1/accounts/{account}/limits",
        "accounts:read",
        "tenant",
        None,
        (200, 404, 200),
    ),
    (
        "PUT",
        "/v1/accounts/{account}/limits",
        "admin",
        "platform",
        Some(r#"{"daily_eur_cents":100000}"#),
        (0, 0, 200),
    ),
    (
        "GET",
        "/v1/accounts/{account}/entries",
        "accounts:read",
        "tenant",
        None,
        (200, 404, 200),
    ),
    (
        "POST",
        "/v1/invoices",
        "invoices:write",
        "tenant",
        Some(r#"{"account_id":"{account}","amount_msat":1000,"description":"x"}"#),
        (201, 404, 201),
    ),
    (
        "GET",
        "/v1/invoices/inv_missing",
        "invoices:read",
        "tenant",
        None,
        (404, 404, 404),
    ),
    (
        "POST",
        "/v1/invoices/inv_missing/cancel",
        "invoices:write",
        "tenant",
        Some("{}"),
        (404, 404, 404),
    ),
    (
        "POST",
        "/v1/payments",
        "payments:write",
        "tenant",
        Some(r#"{"account_id":"{account}","bolt11":"lnbcrt1invalid"}"#),
        (422, 422, 422),
    ),
    (
        "GET",
        "/v1/payments/pay_missing",
        "payments:read",
        "tenant",
        None,
        (404, 404, 404),
    ),
    (
        "POST",
        "/v1/webhooks",
        "webhooks:write",
        "tenant",
        Some(r#"{"tenant_id":"{tenant}","url":"https://erp.example.com/{n}","event_types":["*"]}"#),
        (201, 422, 201),
    ),
    (
        "GET",
        "/v1/webhooks?tenant_id={tenant}",
        "webhooks:read",
        "tenant",
        None,
        (200, 200, 200),
    ),
    (
        "GET",
        "/v1/webhooks/{webhook}",
        "webhooks:read",
        "tenant",
        None,
        (200, 404, 200),
    ),
    (
        "DELETE",
        "/v1/webhooks/{webhook}",
        "webhooks:write",
        "tenant",
        None,
        (200, 404, 200),
    ),
    (
        "POST",
        "/v1/webhooks/{webhook}/rotate-secret",
        "webhooks:write",
        "tenant",
        Some("{}"),
        (200, 404, 200),
    ),
    (
        "GET",
        "/v1/webhooks/{webhook}/deliveries",
        "webhooks:read",
        "tenant",
        None,
        (200, 404, 200),
    ),
    (
        "GET",
        "/v1/webhooks/{webhook}/deliveries/whd_missing",
        "webhooks:read",
        "tenant",
        None,
        (404, 404, 404),
    ),
    (
        "POST",
        "/v1/webhooks/{webhook}/deliveries/whd_missing/redeliver",
        "webhooks:write",
        "tenant",
        None,
        (422, 404, 422),
    ),
    (
        "POST",
        "/v1/apikeys",
        "admin",
        "tenant",
        Some(r#"{"tenant_id":"{tenant}","name":"k {n}","roles":["auditor"]}"#),
        (201, 403, 201),
    ),
    (
        "GET",
        "/v1/apikeys",
        "admin",
        "tenant",
        None,
        (200, 200, 200),
    ),
    (
        "GET",
        "/v1/apikeys/{key}",
        "admin",
        "tenant",
        None,
        (200, 404, 200),
    ),
    (
        "POST",
        "/v1/apikeys/{key}/rotate",
        "admin",
        "tenant",
        Some(r#"{"overlap_secs":60}"#),
        (201, 404, 409),
    ),
    (
        "POST",
        "/v1/apikeys/{key}/revoke",
        "admin",
        "tenant",
        None,
        (200, 404, 409),
    ),
    (
        "GET",
        "/v1/audit",
        "audit:read",
        "tenant",
        None,
        (200, 200, 200),
    ),
    (
        "GET",
        "/v1/approvals",
        "payments:read",
        "tenant",
        None,
        (200, 200, 200),
    ),
    (
        "GET",
        "/v1/approvals/pay_missing",
        "payments:read",
        "tenant",
        None,
        (404, 404, 404),
    ),
    (
        "POST",
        "/v1/approvals/pay_missing/approve",
        "approvals:write",
        "tenant",
        Some(r#"{"approver_id":"ceo","signature":"00"}"#),
        (404, 404, 404),
    ),
    (
        "POST",
        "/v1/approvals/pay_missing/reject",
        "approvals:write",
        "tenant",
        Some(r#"{"approver_id":"ceo","signature":"00"}"#),
        (404, 404, 404),
    ),
    (
        "GET",
        "/v1/approval-policies",
        "admin",
        "platform",
        None,
        (0, 0, 200),
    ),
    (
        "POST",
        "/v1/approval-policies",
        "admin",
        "platform",
        Some(r#"{"policy":{"approvers":[],"groups":{},"rules":[]}}"#),
        (0, 0, 422),
    ),
    (
        "POST",
        "/v1/approval-policies/0/approve",
        "admin",
        "platform",
        None,
        (0, 0, 404),
    ),
    (
        "GET",
        "/v1/recoveries",
        "admin",
        "platform",
        None,
        (0, 0, 200),
    ),
    (
        "GET",
        "/v1/recoveries/rec_missing",
        "admin",
        "platform",
        None,
        (0, 0, 404),
    ),
    (
        "POST",
        "/v1/recoveries",
        "admin",
        "platform",
        Some(
            r#"{"node":"alpha","address":"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080","reason":"drill"}"#,
        ),
        (0, 0, 409),
    ),
    (
        "GET",
        "/v1/usage?tenant_id={tenant}&from=2026-01-01&to=2026-12-31",
        "ledger:read",
        "tenant",
        None,
        (200, 404, 200),
    ),
    (
        "GET",
        "/v1/nodes",
        "nodes:read",
        "platform",
        None,
        (0, 0, 200),
    ),
    (
        "GET",
        "/v1/ledger/check",
        "ledger:read",
        "platform",
        None,
        (0, 0, 200),
    ),
    (
        "GET",
        "/v1/sla",
        "metrics:read",
        "platform",
        None,
        (0, 0, 200),
    ),
    (
        "GET",
        "/v1/alerts?state=open",
        "compliance:read",
        "platform",
        None,
        (0, 0, 200),
    ),
    (
        "POST",
        "/v1/alerts/alr_missing/decide",
        "compliance:write",
        "platform",
        Some(r#"{"decision":"release","reason":"matrix"}"#),
        (0, 0, 404),
    ),
    (
        "POST",
        "/v1/customers/cus_missing/clearances",
        "compliance:write",
        "platform",
        Some(r#"{"list":"ofac-sdn","entry_id":"306","reason":"matrix"}"#),
        (0, 0, 404),
    ),
    (
        "POST",
        "/v1/customers/cus_missing/end-relationship",
        "compliance:write",
        "platform",
        Some(r#"{"reason":"matrix"}"#),
        (0, 0, 404),
    ),
    (
        "GET",
        "/v1/customers/cus_missing/clearances",
        "compliance:read",
        "platform",
        None,
        (0, 0, 404),
    ),
    (
        "GET",
        "/v1/compliance/reports/2026-11",
        "compliance:read",
        "platform",
        None,
        (0, 0, 200),
    ),
    (
        "GET",
        "/v1/compliance/rules",
        "compliance:read",
        "platform",
        None,
        (0, 0, 200),
    ),
    (
        "POST",
        "/v1/compliance/rules",
        "compliance:write",
        "platform",
        Some(r#"{"rules":{"large_payment_eur_cents":600000},"reason":"matrix"}"#),
        (0, 0, 201),
    ),
    (
        "POST",
        "/v1/compliance/rules/0/approve",
        "compliance:write",
        "platform",
        None,
        (0, 0, 404),
    ),
    (
        "POST",
        "/v1/cases",
        "compliance:write",
        "platform",
        Some(r#"{"alert_ids":["alr_missing"]}"#),
        (0, 0, 404),
    ),
    (
        "GET",
        "/v1/cases?state=open",
        "compliance:read",
        "platform",
        None,
        (0, 0, 200),
    ),
    (
        "GET",
        "/v1/cases/case_missing",
        "compliance:read",
        "platform",
        None,
        (0, 0, 404),
    ),
    (
        "PATCH",
        "/v1/cases/case_missing",
        "compliance:write",
        "platform",
        Some(r#"{"state":"investigating","reason":"matrix"}"#),
        (0, 0, 404),
    ),
    (
        "POST",
        "/v1/cases/case_missing/notes",
        "compliance:write",
        "platform",
        Some(r#"{"text":"matrix"}"#),
        (0, 0, 404),
    ),
    (
        "POST",
        "/v1/cases/case_missing/sar",
        "compliance:write",
        "platform",
        None,
        (0, 0, 404),
    ),
    (
        "GET",
        "/v1/cases/case_missing/sar?format=goaml",
        "compliance:read",
        "platform",
        None,
        (0, 0, 404),
    ),
    (
        "POST",
        "/v1/cases/case_missing/sar/filed",
        "compliance:write",
        "platform",
        Some(r#"{"reference":"matrix"}"#),
        (0, 0, 404),
    ),
    (
        "POST",
        "/v1/customers",
        "compliance:write",
        "platform",
        Some(
            r#"{"tenant_id":"{tenant}","name":"Customer {n}","kind":"person","country":"DE","business_type":"individual","expected_monthly_eur_cents":100000,"source_of_funds":"salary"}"#,
        ),
        (0, 0, 201),
    ),
    (
        "GET",
        "/v1/customers?tenant_id={tenant}",
        "compliance:read",
        "platform",
        None,
        (0, 0, 200),
    ),
    (
        "GET",
        "/v1/customers/cus_missing",
        "compliance:read",
        "platform",
        None,
        (0, 0, 404),
    ),
    (
        "PATCH",
        "/v1/customers/cus_missing",
        "compliance:write",
        "platform",
        Some(r#"{"kyc_status":"verified"}"#),
        (0, 0, 404),
    ),
    (
        "POST",
        "/v1/screening/names",
        "compliance:read",
        "platform",
        Some(r#"{"names":[{"name":"Someone {n}"}]}"#),
        (0, 0, 200),
    ),
    (
        "GET",
        "/v1/screening/lists",
        "compliance:read",
        "platform",
        None,
        (0, 0, 200),
    ),
    (
        "POST",
        "/v1/screening/watchlist",
        "compliance:write",
        "platform",
        Some(r#"{"kind":"name","value":"Watched Person {n}","reason":"matrix"}"#),
        (0, 0, 201),
    ),
    (
        "GET",
        "/v1/screening/watchlist",
        "compliance:read",
        "platform",
        None,
        (0, 0, 200),
    ),
    (
        "DELETE",
        "/v1/screening/watchlist/watch_missing",
        "compliance:write",
        "platform",
        None,
        (0, 0, 404),
    ),
];

struct TenantFixture {
    tenant: &'static str,
    account: String,
    webhook: String,
    key: String,
}

async fn tenant_fixture(s: &Server, tenant: &'static str) -> TenantFixture {
    let (status, _) = s
        .call(
            &s.admin,
            "POST",
            "/v1/tenants",
            Some(json!({"id": tenant, "name": tenant})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, account) = s
        .call(
            &s.admin,
            "POST",
            "/v1/accounts",
            Some(json!({"tenant_id": tenant, "name": "main"})),
        )
        .await;
    let (_, webhook) = s
        .call(
            &s.admin,
            "POST",
            "/v1/webhooks",
            Some(json!({"tenant_id": tenant, "url": "https://erp.example.com/h", "event_types": ["*"]})),
        )
        .await;
    let (key, _) = s
        .issue(json!({"tenant_id": tenant, "name": "victim", "roles": ["integration"]}))
        .await;
    TenantFixture {
        tenant,
        account: account["id"].as_str().expect("account").to_string(),
        webhook: webhook["id"].as_str().expect("webhook").to_string(),
        key,
    }
}

fn fill(template: &str, f: &TenantFixture, n: usize) -> String {
    template
        .replace("{tenant}", f.tenant)
        .replace("{account}", &f.account)
        .replace("{webhook}", &f.webhook)
        .replace("{key}", &f.key)
        .replace("{n}", &n.to_string())
}

async fn every_endpoint_every_role_own_and_foreign_tenant(t: TestStore) {
    let s = server(t.store.clone(), RateLimitConfig::default()).await;
    // Every route the API documents is in the table, and nothing else.
    let (_, doc) = s.call("", "GET", "/v1/openapi.json", None).await;
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            let path = path.clone();
            ops.as_object()
                .expect("ops")
                .keys()
                .map(move |m| format!("{} {path}", m.to_uppercase()))
                .collect::<Vec<_>>()
        })
        .filter(|e| e.contains(" /v1/") && !e.ends_with("/v1/openapi.json"))
        .collect();
    let tested: BTreeSet<String> = ENDPOINTS
        .iter()
        .map(|(m, p, _, _, _, _)| {
            let path = p.split('?').next().expect("path");
            let generic = path
                .replace("{account}", "{id}")
                .replace("{webhook}", "{id}")
                .replace("{key}", "{id}")
                .replace("inv_missing", "{id}")
                .replace("pay_missing", "{id}")
                .replace("rec_missing", "{id}")
                .replace("watch_missing", "{id}")
                .replace("cus_missing", "{id}")
                .replace("alr_missing", "{id}")
                .replace("case_missing", "{id}")
                .replace("/reports/2026-11", "/reports/{period}")
                .replace("whd_missing", "{delivery_id}")
                .replace("/0/approve", "/{version}/approve");
            format!("{m} {generic}")
        })
        .collect();
    assert_eq!(
        tested, documented,
        "the matrix covers every documented endpoint"
    );

    let acme = tenant_fixture(&s, "acme").await;
    let globex = tenant_fixture(&s, "globex").await;
    // Every role as a credential of tenant acme, and as a platform credential.
    let mut keys = Vec::new();
    for role in ROLES {
        for tenant in [Some("acme"), None] {
            let mut body = json!({"name": format!("{tenant:?} {role}"), "roles": [role]});
            if let Some(tenant) = tenant {
                body["tenant_id"] = json!(tenant);
            }
            let (_, key) = s.issue(body).await;
            keys.push((role, tenant, key));
        }
    }
    let foreign_ids = [
        globex.account.clone(),
        globex.webhook.clone(),
        globex.key.clone(),
    ];
    let mut n = 0;
    for (role, tenant, key) in &keys {
        for (method, path, scope, audience, body, expect) in ENDPOINTS {
            let has_scope = role_scopes(role)
                .iter()
                .any(|s| *s == "admin" || s == scope);
            let platform_only = *audience == "platform" && tenant.is_some();
            // A platform credential may name any tenant: acme's things stand for all.
            let fixtures: &[(&TenantFixture, bool)] = match tenant {
                Some(_) => &[(&acme, true), (&globex, false)],
                None => &[(&acme, true)],
            };
            for &(fixture, own) in fixtures {
                n += 1;
                let url = fill(path, fixture, n);
                let body_template = *body;
                let body = body.map(|b| serde_json::from_str(&fill(b, fixture, n)).expect("json"));
                let (status, answer) = s.call(key, method, &url, body).await;
                let shown: String = answer.to_string().chars().take(300).collect();
                let what = format!("{role} of {tenant:?}: {method} {url} -> {status} {shown}");
                assert_ne!(status, StatusCode::UNAUTHORIZED, "{what}");
                let code = answer["code"].as_str().unwrap_or("");
                // The audience decides first: a tenant credential never reaches a
                // platform route, whatever its scopes (admin included).
                if platform_only {
                    assert_eq!(
                        (status, code),
                        (StatusCode::FORBIDDEN, "platform_only"),
                        "{what}"
                    );
                    continue;
                }
                let scope_refusal = code == "forbidden"
                    && answer["detail"]
                        .as_str()
                        .unwrap_or("")
                        .contains("lacks the scope");
                if !has_scope {
                    assert_eq!(
                        (status, scope_refusal),
                        (StatusCode::FORBIDDEN, true),
                        "{what}"
                    );
                    continue;
                }
                assert!(
                    !scope_refusal && code != "platform_only",
                    "an allowed call is not refused by the guard: {what}"
                );
                if own || tenant.is_none() {
                    assert!(code != "forbidden", "{what}");
                }
                let exact = match (tenant, own) {
                    (Some(_), true) => expect.0,
                    (Some(_), false) => expect.1,
                    (None, _) => expect.2,
                };
                assert_eq!(status.as_u16(), exact, "{what}");
                let about_a_tenant = path.contains('{')
                    || body_template
                        .is_some_and(|b| b.contains("{tenant}") || b.contains("{account}"));
                if tenant.is_some() && !own && about_a_tenant {
                    // A foreign tenant's resources are invisible and untouchable.
                    let text = answer.to_string();
                    let leaks = foreign_ids.iter().any(|id| text.contains(id.as_str()));
                    assert!(!status.is_success() || !leaks, "{what}");
                    assert!(
                        [
                            StatusCode::NOT_FOUND,
                            StatusCode::FORBIDDEN,
                            StatusCode::UNPROCESSABLE_ENTITY
                        ]
                        .contains(&status)
                            || (status == StatusCode::OK && !leaks),
                        "{what}"
                    );
                }
            }
        }
    }
    // The foreign tenant's things are as they were.
    let (_, webhook) = s
        .call(
            &s.admin,
            "GET",
            &format!("/v1/webhooks/{}", globex.webhook),
            None,
        )
        .await;
    assert_eq!(webhook["enabled"], true);
    let (_, key) = s
        .call(
            &s.admin,
            "GET",
            &format!("/v1/apikeys/{}", globex.key),
            None,
        )
        .await;
    assert_eq!(key["status"], "active", "{key}");
    let (_, accounts) = s
        .call(&s.admin, "GET", "/v1/accounts?tenant_id=globex", None)
        .await;
    assert_eq!(
        accounts["data"].as_array().expect("data").len(),
        1,
        "{accounts}"
    );
    s.shut_down().await;
}

async fn keys_are_issued_scoped_revoked_rotated_expired_and_address_bound(t: TestStore) {
    let s = server(t.store.clone(), RateLimitConfig::default()).await;
    s.tenant("acme").await;
    // Shown once: the key is in the create answer only.
    let (id, key) = s
        .issue(json!({"tenant_id": "acme", "name": "reader", "scopes": ["accounts:read"]}))
        .await;
    let (_, listed) = s
        .call(&s.admin, "GET", &format!("/v1/apikeys/{id}"), None)
        .await;
    assert!(listed.get("key").is_none() && !listed.to_string().contains(&key[key.len() - 64..]));
    assert_eq!(
        s.call(&key, "GET", "/v1/accounts?tenant_id=acme", None)
            .await
            .0,
        StatusCode::OK
    );
    let (status, refused) = s
        .call(
            &key,
            "POST",
            "/v1/accounts",
            Some(json!({"tenant_id": "acme", "name": "x"})),
        )
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    // A key of another format, a wrong secret, no header: 401 with WWW-Authenticate.
    let wrong = format!(
        "{}{}",
        &key[..key.len() - 1],
        if key.ends_with('a') { 'b' } else { 'a' }
    );
    for presented in [wrong.as_str(), "not-a-key", ""] {
        let response = s
            .send(presented, "GET", "/v1/accounts?tenant_id=acme", None)
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{presented}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
    // Revocation: refused at once.
    assert_eq!(
        s.call(&s.admin, "POST", &format!("/v1/apikeys/{id}/revoke"), None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        s.call(&key, "GET", "/v1/accounts?tenant_id=acme", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // Rotation: the old key works during the overlap; with no overlap it stops at once.
    let (old_id, old_key) = s
        .issue(json!({"tenant_id": "acme", "name": "erp", "roles": ["integration"]}))
        .await;
    let (status, rotated) = s
        .call(
            &s.admin,
            "POST",
            &format!("/v1/apikeys/{old_id}/rotate"),
            Some(json!({"overlap_secs": 3600})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let new_key = rotated["key"].as_str().expect("key").to_string();
    for k in [&old_key, &new_key] {
        assert_eq!(
            s.call(k, "GET", "/v1/accounts?tenant_id=acme", None)
                .await
                .0,
            StatusCode::OK
        );
    }
    let new_id = rotated["id"].as_str().expect("id").to_string();
    let (_, again) = s
        .call(
            &s.admin,
            "POST",
            &format!("/v1/apikeys/{new_id}/rotate"),
            Some(json!({"overlap_secs": 0})),
        )
        .await;
    let newest = again["key"].as_str().expect("key").to_string();
    assert_eq!(
        s.call(&new_key, "GET", "/v1/accounts?tenant_id=acme", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.call(&newest, "GET", "/v1/accounts?tenant_id=acme", None)
            .await
            .0,
        StatusCode::OK
    );
    // Expiry.
    let soon = chrono_in(Duration::from_millis(1_500));
    let (_, expiring) = s
        .issue(
            json!({"tenant_id": "acme", "name": "temp", "roles": ["auditor"], "expires_at": soon}),
        )
        .await;
    assert_eq!(
        s.call(&expiring, "GET", "/v1/audit", None).await.0,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    assert_eq!(
        s.call(&expiring, "GET", "/v1/audit", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Source addresses: this test calls from 127.0.0.1.
    let (_, elsewhere) = s
        .issue(json!({"tenant_id": "acme", "name": "dc", "roles": ["auditor"], "ip_allowlist": ["10.0.0.0/8"]}))
        .await;
    let (_, here) = s
        .issue(json!({"tenant_id": "acme", "name": "lo", "roles": ["auditor"], "ip_allowlist": ["127.0.0.1"]}))
        .await;
    assert_eq!(
        s.call(&elsewhere, "GET", "/v1/audit", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.call(&here, "GET", "/v1/audit", None).await.0,
        StatusCode::OK
    );
    // Bad key requests: the right problem, nothing issued.
    let before = s.call(&s.admin, "GET", "/v1/apikeys", None).await.1["data"]
        .as_array()
        .expect("d")
        .len();
    for (body, code) in [
        (json!({"name": "x", "roles": ["root"]}), "invalid_field"),
        (
            json!({"name": "x", "roles": ["auditor"], "ip_allowlist": ["10.0.0.0/33"]}),
            "invalid_field",
        ),
        (
            json!({"name": "x", "roles": ["auditor"], "expires_at": "tomorrow"}),
            "invalid_field",
        ),
        (json!({"name": "x"}), "invalid_field"),
        (
            json!({"tenant_id": "nope", "name": "x", "roles": ["auditor"]}),
            "tenant_not_found",
        ),
    ] {
        let (status, problem) = s
            .call(&s.admin, "POST", "/v1/apikeys", Some(body.clone()))
            .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{body}"
        );
    }
    let after = s.call(&s.admin, "GET", "/v1/apikeys", None).await.1["data"]
        .as_array()
        .expect("d")
        .len();
    assert_eq!(before, after);
    s.shut_down().await;
}

fn chrono_in(d: Duration) -> String {
    let at = std::time::SystemTime::now() + d;
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .expect("epoch")
        .as_millis() as i64;
    kernel::rfc3339(ms)
}

async fn rate_limits_and_failure_throttling_are_exact(t: TestStore) {
    let limits = RateLimitConfig {
        tiers: [(
            "standard".to_string(),
            RateTier {
                per_second: 1,
                burst: 5,
            },
        )]
        .into(),
        default_tier: "standard".to_string(),
        auth_failures_per_minute: 3,
        quotas: access::UsageConfig::default(),
    };
    let s = server(t.store.clone(), limits).await;
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let response = s.send(&s.admin, "GET", "/v1/nodes", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["ratelimit-limit"], "5");
        remaining.push(
            response.headers()["ratelimit-remaining"]
                .to_str()
                .expect("h")
                .to_string(),
        );
    }
    assert_eq!(remaining, ["4", "3", "2", "1", "0"]);
    let response = s.send(&s.admin, "GET", "/v1/nodes", None).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(response.headers()["ratelimit-remaining"], "0");
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "rate_limited");
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    assert_eq!(
        s.send(&s.admin, "GET", "/v1/nodes", None).await.status(),
        StatusCode::OK,
        "refilled"
    );
    // Three failures are answered 401; the fourth crosses the line; from then on that
    // key's failures from that address are answered 429 until the allowance returns.
    let bogus = format!("fgk_bogus_{}", "0".repeat(64));
    for _ in 0..4 {
        assert_eq!(
            s.send(&bogus, "GET", "/v1/nodes", None).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let throttled = s.send(&bogus, "GET", "/v1/nodes", None).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key("retry-after"));
    let problem: Value = throttled.json().await.expect("json");
    assert_eq!(problem["code"], "too_many_auth_failures");
    // A valid credential from the same address is never refused (issue 22, finding 6:
    // on ef1684f this answered 429 to the platform admin). It waits for its own rate
    // allowance (1/s), spent above; the throttle of the bogus key lasts 20 s.
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    assert_eq!(
        s.send(&s.admin, "GET", "/v1/nodes", None).await.status(),
        StatusCode::OK
    );
    // Another key's failures from that address, and the same key from another client
    // behind the (trusted) proxy, have their own allowance.
    let other = format!("fgk_other_{}", "0".repeat(64));
    assert_eq!(
        s.send(&other, "GET", "/v1/nodes", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let via_proxy = |client: &str| {
        s.http
            .get(format!("{}/v1/nodes", s.base))
            .bearer_auth(&bogus)
            .header("x-forwarded-for", format!("{client}, 127.0.0.1"))
            .send()
    };
    let elsewhere = via_proxy("203.0.113.7").await.expect("send");
    assert_eq!(elsewhere.status(), StatusCode::UNAUTHORIZED);
    s.shut_down().await;
}

async fn requests_carry_ids_and_security_headers_and_everything_is_audited(t: TestStore) {
    let s = server(t.store.clone(), RateLimitConfig::default()).await;
    let response = s
        .http
        .get(format!("{}/v1/nodes", s.base))
        .bearer_auth(&s.admin)
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .expect("req");
    assert_eq!(response.headers()["x-request-id"], "trace-abc-123");
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(response.headers()[name], value);
    }
    let generated = s.send(&s.admin, "GET", "/healthz", None).await;
    assert!(generated.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .starts_with("req_"));

    s.tenant("acme").await;
    s.tenant("globex").await;
    let (_, reader) = s
        .issue(json!({"tenant_id": "acme", "name": "reader", "roles": ["auditor"]}))
        .await;
    let created = s
        .http
        .post(format!("{}/v1/accounts", s.base))
        .bearer_auth(&s.admin)
        .header("x-request-id", "create-acct-1")
        .header("content-type", "application/json")
        .body(json!({"tenant_id": "acme", "name": "ops"}).to_string())
        .send()
        .await
        .expect("req");
    assert_eq!(created.status(), StatusCode::CREATED);
    let (status, _) = s
        .call(
            &s.admin,
            "POST",
            "/v1/accounts",
            Some(json!({"tenant_id": "acme", "name": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    s.call(
        &reader,
        "POST",
        "/v1/accounts",
        Some(json!({"tenant_id": "acme", "name": "x"})),
    )
    .await;
    s.call("fgk_nope", "GET", "/v1/nodes", None).await;
    s.call(
        &s.admin,
        "POST",
        "/v1/accounts",
        Some(json!({"tenant_id": "globex", "name": "g"})),
    )
    .await;

    let (status, page) = s.call(&s.admin, "GET", "/v1/audit?limit=500", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let records = page["data"].as_array().expect("data");
    let find = |action: &str, outcome: &str| {
        records
            .iter()
            .find(|r| r["action"] == action && r["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {action}/{outcome} in {page}"))
    };
    let success = find("account.create", "success");
    assert_eq!(success["request_id"], "create-acct-1");
    assert_eq!(success["tenant_id"], "acme");
    assert_eq!(success["source_ip"], "127.0.0.1");
    assert_eq!(find("account.create", "failed")["details"], "invalid_field");
    assert_eq!(
        find("account.create", "denied")["details"],
        "missing scope accounts:write"
    );
    assert_eq!(
        find("auth.failure", "denied")["details"],
        "malformed_credential"
    );
    assert!(records.iter().any(|r| r["action"] == "apikey.create"));
    let text = page.to_string();
    assert!(
        !text.contains(&s.admin) && !text.contains(&reader),
        "no secret in the trail"
    );
    // A tenant's auditor sees its own tenant's records only.
    let (_, own) = s.call(&reader, "GET", "/v1/audit?limit=500", None).await;
    let own = own["data"].as_array().expect("data");
    assert!(
        !own.is_empty() && own.iter().all(|r| r["tenant_id"] == "acme"),
        "{own:?}"
    );
    // And the chain verifies.
    let dir = tempfile::tempdir().expect("tempdir");
    let signer =
        Arc::new(audit::Ed25519Signer::load_or_create(&dir.path().join("k")).expect("key"));
    let key = signer.public_key();
    audit::checkpoint(&s.store, signer, 1)
        .await
        .expect("checkpoint");
    let verified = audit::verify(&s.store, &key).await.expect("verify");
    assert_eq!(verified.first_bad, None);
    assert!(verified.records as usize >= records.len());
    s.shut_down().await;
}

async fn tenant_quotas_are_counted_shared_and_enforced(t: TestStore) {
    let limits = RateLimitConfig {
        quotas: access::UsageConfig {
            default_daily_calls: Some(4),
            tenant_daily_calls: [("globex".to_string(), 100)].into(),
            // Every call's count is written at once, so a second replica sees it.
            flush_interval_ms: 0,
        },
        ..RateLimitConfig::default()
    };
    let s = server(t.store.clone(), limits.clone()).await;
    s.tenant("acme").await;
    s.tenant("globex").await;
    let (_, acme) = s
        .issue(json!({"tenant_id": "acme", "name": "erp", "roles": ["integration"]}))
        .await;
    let (_, globex) = s
        .issue(json!({"tenant_id": "globex", "name": "erp", "roles": ["integration"]}))
        .await;
    for _ in 0..4 {
        let (status, _) = s
            .call(&acme, "GET", "/v1/accounts?tenant_id=acme", None)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let refused = s
        .send(&acme, "GET", "/v1/accounts?tenant_id=acme", None)
        .await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(
        (1..=86_400).contains(&wait),
        "until the next UTC day: {wait}"
    );
    let problem: Value = refused.json().await.expect("json");
    assert_eq!(problem["code"], "quota_exceeded");
    // Another tenant has its own (overridden) quota; platform credentials have none.
    for _ in 0..5 {
        let (status, _) = s
            .call(&globex, "GET", "/v1/accounts?tenant_id=globex", None)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    for _ in 0..6 {
        assert_eq!(
            s.call(&s.admin, "GET", "/v1/nodes", None).await.0,
            StatusCode::OK
        );
    }
    // The count, for chargeback: the refused calls are not in it.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let (status, usage) = s
        .call(
            &s.admin,
            "GET",
            &format!("/v1/usage?tenant_id=acme&from={today}&to={today}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(usage["daily_quota"], 4);
    assert_eq!(usage["days"], json!([{"day": today, "calls": 4}]));
    // A second replica on the same store sees the shared count (written by the flush
    // that the usage report waited for).
    let replica = server(t.store.clone(), limits).await;
    assert_eq!(
        replica
            .call(&acme, "GET", "/v1/accounts?tenant_id=acme", None)
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let (status, _) = s
        .call(
            &s.admin,
            "GET",
            "/v1/usage?tenant_id=acme&from=2026-13-01&to=x",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    replica.shut_down().await;
    s.shut_down().await;
}

/// The first administrator proposes `policy`: the new version.
async fn propose(s: &Server, policy: &Value) -> Value {
    let (status, proposed) = s
        .call(
            &s.admin,
            "POST",
            "/v1/approval-policies",
            Some(json!({"policy": policy})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{proposed}");
    proposed
}

/// `POST /v1/approval-policies` then `…/{version}/approve`: the proposer is refused with
/// `second_admin_required`, another platform administrator puts it in force, bad input is
/// a problem and leaves no version.
async fn a_policy_change_over_http_needs_a_second_admin(t: TestStore) {
    let s = server(t.store.clone(), RateLimitConfig::default()).await;
    // A second administrator is someone the first cannot mint: a key made out of band
    // (as `fulgur apikey create` on the machine does).
    let second_admin = common::out_of_band_admin(&t.store).await;
    // Keys the first administrator mints over the API (and keys those mint) answer to it.
    let (_, minted) = s
        .issue(json!({"name": "second admin", "roles": ["admin"]}))
        .await;
    let (status, grandchild) = s
        .call(
            &minted,
            "POST",
            "/v1/apikeys",
            Some(json!({"name": "third admin", "roles": ["admin"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grandchild}");
    let grandchild = grandchild["key"].as_str().expect("key").to_string();
    // The Ed25519 base point: a valid public key.
    let policy = json!({
        "approvers": [{"id": "ceo", "name": "CEO", "identity": "key_ceo",
            "key": {"ed25519": "5866666666666666666666666666666666666666666666666666666666666666"},
            "hsm_label": null}],
        "groups": {"executives": ["ceo"]},
        "rules": [{"name": "everything", "then": {"require": {
            "approvals": {"group": {"group": "executives", "count": 1}},
            "expires_in_secs": 3600}}}]
    });
    let proposed = propose(&s, &policy).await;
    assert_eq!(
        (proposed["version"].as_i64(), proposed["state"].as_str()),
        (Some(1), Some("proposed"))
    );
    // The proposer, and every key it minted (issue 22, finding 3: on ef1684f the minted
    // key approved the proposal, 200), are refused.
    for key in [&s.admin, &minted, &grandchild] {
        let (status, refused) = s
            .call(key, "POST", "/v1/approval-policies/1/approve", None)
            .await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("second_admin_required")),
            "{refused}"
        );
    }
    let (status, active) = s
        .call(
            &second_admin,
            "POST",
            "/v1/approval-policies/1/approve",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{active}");
    assert_eq!(active["state"], "active");
    let parse = |v: &Value| serde_json::from_value::<approvals::Policy>(v.clone()).expect("policy");
    assert_eq!(parse(&active["policy"]), parse(&policy));
    let (status, again) = s
        .call(
            &second_admin,
            "POST",
            "/v1/approval-policies/1/approve",
            None,
        )
        .await;
    assert_eq!(
        (status, again["code"].as_str()),
        (StatusCode::CONFLICT, Some("policy_not_proposed"))
    );
    for (path, code) in [
        ("/v1/approval-policies/9/approve", "policy_not_found"),
        ("/v1/approval-policies/nine/approve", "policy_not_found"),
    ] {
        let (status, answer) = s.call(&second_admin, "POST", path, None).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (StatusCode::NOT_FOUND, Some(code))
        );
    }
    let (status, invalid) = s
        .call(
            &s.admin,
            "POST",
            "/v1/approval-policies",
            Some(json!({"policy": {"approvers": [], "groups": {}, "rules": []}})),
        )
        .await;
    assert_eq!(
        (status, invalid["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field"))
    );
    let (_, versions) = s.call(&s.admin, "GET", "/v1/approval-policies", None).await;
    assert_eq!(
        versions["data"].as_array().map(Vec::len),
        Some(1),
        "{versions}"
    );
    // Rotating the second administrator's key hands its successor to whoever rotated it:
    // the first administrator cannot become the second that way.
    let proposed = propose(&s, &policy).await;
    assert_eq!(proposed["version"], 2, "{proposed}");
    let second_id = format!("key_{}", second_admin.split('_').nth(1).expect("id"));
    let (status, rotated) = s
        .call(
            &s.admin,
            "POST",
            &format!("/v1/apikeys/{second_id}/rotate"),
            Some(json!({"overlap_secs": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let successor = rotated["key"].as_str().expect("key");
    let (status, refused) = s
        .call(successor, "POST", "/v1/approval-policies/2/approve", None)
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("second_admin_required")),
        "{refused}"
    );
    s.shut_down().await;
}

/// `POST /v1/compliance/rules` then `…/{version}/approve`: an officer proposes a change to
/// the monitoring rules; the proposer and the administrator who minted the officer's key
/// are refused with `second_person_required`; an officer of their own puts it in force;
/// hostile changes are problems that name the parameter and leave no version.
async fn a_rule_change_over_http_needs_a_second_officer(t: TestStore) {
    let s = server(t.store.clone(), RateLimitConfig::default()).await;
    let (_, officer) = s
        .issue(json!({"name": "officer", "roles": ["compliance"]}))
        .await;
    let (_, second) =
        common::out_of_band_key(&t.store, "second officer", &[access::Role::Compliance], &[]).await;
    let (status, listed) = s.call(&officer, "GET", "/v1/compliance/rules", None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["data"][0]["state"], "active", "{listed}");
    assert_eq!(listed["data"][0]["proposed_by"], "config", "{listed}");
    assert_eq!(
        listed["data"][0]["rules"]["large_payment_eur_cents"],
        500_000
    );

    let change = json!({"rules": {"large_payment_eur_cents": 1_000_000,
        "structuring": {"decision": "block"}}, "reason": "thresholds of the 2027 policy"});
    let (status, proposed) = s
        .call(&officer, "POST", "/v1/compliance/rules", Some(change))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{proposed}");
    assert_eq!(
        (
            proposed["version"].as_i64(),
            proposed["state"].as_str(),
            proposed["based_on"].as_i64()
        ),
        (Some(2), Some("proposed"), Some(1))
    );
    assert_eq!(proposed["rules"]["structuring"]["decision"], "block");
    for key in [&officer, &s.admin] {
        let (status, refused) = s
            .call(key, "POST", "/v1/compliance/rules/2/approve", None)
            .await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("second_person_required")),
            "{refused}"
        );
    }
    let (status, active) = s
        .call(&second, "POST", "/v1/compliance/rules/2/approve", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{active}");
    assert_eq!(active["state"], "active");
    for (path, status_code, code) in [
        (
            "/v1/compliance/rules/2/approve",
            StatusCode::CONFLICT,
            "rule_set_not_proposed",
        ),
        (
            "/v1/compliance/rules/9/approve",
            StatusCode::NOT_FOUND,
            "rule_set_not_found",
        ),
        (
            "/v1/compliance/rules/nine/approve",
            StatusCode::NOT_FOUND,
            "rule_set_not_found",
        ),
    ] {
        let (status, answer) = s.call(&second, "POST", path, None).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (status_code, Some(code)),
            "{path}"
        );
    }
    for (body, says) in [
        (json!({"rules": {"nope": 1}, "reason": "x"}), "nope"),
        (
            json!({"rules": {"large_payment_eur_cents": -5}, "reason": "x"}),
            "large_payment_eur_cents",
        ),
        (
            json!({"rules": {"fan_window_ms": 1}, "reason": "x"}),
            "fan_window_ms",
        ),
        (
            json!({"rules": {"fan_min_counterparties": 3}, "reason": ""}),
            "reason",
        ),
        (json!({"rules": {"fan_min_counterparties": 3}}), "reason"),
        (json!({"rules": [1], "reason": "x"}), "rules"),
    ] {
        let (status, problem) = s
            .call(&officer, "POST", "/v1/compliance/rules", Some(body.clone()))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{body}: {problem}");
        assert!(!detail.contains("line "), "no parser text: {problem}");
    }
    let (_, versions) = s.call(&officer, "GET", "/v1/compliance/rules", None).await;
    assert_eq!(
        versions["data"].as_array().map(Vec::len),
        Some(2),
        "{versions}"
    );
    s.shut_down().await;
}
