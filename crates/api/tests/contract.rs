//! The HTTP contract where it was loose, over real HTTPS, on both stores: bad bodies,
//! queries and paths answered with our own sentences (never serde's or axum's text);
//! accounts listed across tenants by a platform credential and within its own tenant by a
//! tenant's; `/readyz` telling anyone the verdict and only a platform credential with
//! `nodes:read` the detail; and the chain tip read at most once a second however often
//! readiness is asked (on the injected clock).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use gateway::{Gateway, GatewayConfig};
use kernel::{Clock, ManualClock, RandomIds};
use node_pool::{ChainTip, NodeError, NodePool};
use reqwest::StatusCode;
use serde_json::{json, Value};
use store::testing::TestStore;

mod common;
mod guarded;

use guarded::{server, Server};

store::on_both_stores!(
    bad_input_is_answered_in_our_words,
    accounts_are_listed_across_tenants_for_the_platform_only,
    readiness_detail_needs_a_platform_credential_with_nodes_read,
    the_chain_tip_is_read_at_most_once_a_second,
);

fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap_or("")
}

/// Fragments of serde's and axum's own messages: none may reach a client.
const PARSER_TEXT: [&str; 8] = [
    "Failed to deserialize",
    "missing field `",
    "unknown field `",
    "invalid type",
    "expected ",
    "at line",
    "Invalid URL",
    "invalid digit",
];

fn assert_our_words(status: StatusCode, body: &Value, want: (StatusCode, &str), names: &str) {
    assert_eq!((status, code(body)), want, "{body}");
    let detail = body["detail"].as_str().expect("detail");
    for text in PARSER_TEXT {
        assert!(!detail.contains(text), "{text:?} leaked: {detail}");
    }
    assert!(detail.contains(names), "{detail:?} names {names}");
}

async fn raw(s: &Server, method: &str, path: &str, body: &str) -> (StatusCode, Value) {
    let response = s
        .http
        .request(method.parse().expect("method"), format!("{}{path}", s.base))
        .bearer_auth(&s.admin)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = response.status();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{method} {path}"
    );
    (status, response.json().await.expect("problem"))
}

async fn bad_input_is_answered_in_our_words(t: TestStore) {
    let s = server(t.store.clone(), api::RateLimitConfig::default()).await;
    s.tenant("acme").await;
    let bad_request = StatusCode::BAD_REQUEST;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;

    // Queries: a missing, unknown or mistyped parameter is named, in our words.
    for (path, names) in [
        ("/v1/webhooks", "tenant_id is required"),
        ("/v1/webhooks?tenant_id=acme&limit=many", "limit"),
        ("/v1/accounts?tenant_id=acme&limit=-1", "limit"),
        (
            "/v1/accounts?tenant_id=acme&colour=red",
            "colour is not a field",
        ),
        ("/v1/usage?tenant_id=acme&from=2026-01-01", "to is required"),
        ("/v1/audit?after=1e3", "after"),
    ] {
        let (status, body) = s.call(&s.admin, "GET", path, None).await;
        assert_our_words(status, &body, (bad_request, "invalid_query"), names);
    }

    // Bodies: not JSON (400), or JSON of the wrong shape (422, naming the field).
    let cases = [
        (
            "POST",
            "/v1/accounts",
            "{\"tenant_id\": ",
            (bad_request, "malformed_json"),
            "line 1",
        ),
        (
            "POST",
            "/v1/accounts",
            r#"{"name": "x"}"#,
            (unprocessable, "invalid_field"),
            "tenant_id is required",
        ),
        (
            "POST",
            "/v1/accounts",
            r#"{"tenant_id": 7, "name": "x"}"#,
            (unprocessable, "invalid_field"),
            "tenant_id has the wrong type",
        ),
        (
            "POST",
            "/v1/accounts",
            r#"{"tenant_id": "acme", "name": "x", "owner": "me"}"#,
            (unprocessable, "invalid_field"),
            "owner is not a field",
        ),
        (
            "POST",
            "/v1/invoices",
            r#"{"account_id": "a", "amount_msat": -5}"#,
            (unprocessable, "invalid_field"),
            "amount_msat",
        ),
        (
            "POST",
            "/v1/apikeys",
            r#"{"name": "k", "roles": ["admin", 3]}"#,
            (unprocessable, "invalid_field"),
            "roles[1]",
        ),
        (
            "PUT",
            "/v1/accounts/acc_x/limits",
            r#"{"daily_eur_cents": "lots"}"#,
            (unprocessable, "invalid_field"),
            "daily_eur_cents",
        ),
        (
            "POST",
            "/v1/tenants",
            "[]",
            (unprocessable, "invalid_field"),
            "the body",
        ),
    ];
    for (method, path, body, want, names) in cases {
        let (status, problem) = raw(&s, method, path, body).await;
        assert_our_words(status, &problem, want, names);
    }
    // A path parameter that is not UTF-8 once decoded names nothing: 404.
    let (status, problem) = s.call(&s.admin, "GET", "/v1/accounts/%FF%FE", None).await;
    assert_our_words(
        status,
        &problem,
        (StatusCode::NOT_FOUND, "not_found"),
        "no such",
    );
    // The same tenant id under another name is the client's mistake, not a 500.
    let (status, problem) = raw(
        &s,
        "POST",
        "/v1/tenants",
        r#"{"id": "acme", "name": "Other"}"#,
    )
    .await;
    assert_our_words(
        status,
        &problem,
        (unprocessable, "invalid_field"),
        "another name",
    );
    // Tenant names are unique too.
    let (status, problem) = raw(
        &s,
        "POST",
        "/v1/tenants",
        r#"{"id": "acme2", "name": "acme"}"#,
    )
    .await;
    assert_our_words(
        status,
        &problem,
        (unprocessable, "invalid_field"),
        "another tenant has this name",
    );
    s.shut_down().await;
}

async fn page(s: &Server, key: &str, query: &str) -> Value {
    let (status, page) = s
        .call(key, "GET", &format!("/v1/accounts{query}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {page}");
    page
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_string())
        .collect()
}

async fn accounts_are_listed_across_tenants_for_the_platform_only(t: TestStore) {
    let s = server(t.store.clone(), api::RateLimitConfig::default()).await;
    let mut created = Vec::new();
    for (tenant, n) in [("acme", 3), ("globex", 2)] {
        s.tenant(tenant).await;
        for i in 0..n {
            let body = json!({"tenant_id": tenant, "name": format!("acct {i}")});
            let (status, account) = s.call(&s.admin, "POST", "/v1/accounts", Some(body)).await;
            assert_eq!(status, StatusCode::CREATED, "{account}");
            created.push((tenant, account["id"].as_str().expect("id").to_string()));
        }
    }
    let of = |tenant: &str| -> Vec<String> {
        let mut ids: Vec<String> = created
            .iter()
            .filter(|(t, _)| *t == tenant)
            .map(|(_, id)| id.clone())
            .collect();
        ids.sort();
        ids
    };

    // The platform, unfiltered: every tenant's, by id, page after page.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_string();
    loop {
        let got = page(&s, &s.admin, &query).await;
        let rows = ids(&got);
        assert!(rows.len() <= 2, "bounded: {got}");
        seen.extend(rows);
        match got["next_after"].as_str() {
            Some(after) => query = format!("?limit=2&after={after}"),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "ordered by id");
    for (_, id) in &created {
        assert!(seen.contains(id), "{id} listed across tenants");
    }
    // The platform, filtered: one tenant's.
    assert_eq!(
        ids(&page(&s, &s.admin, "?tenant_id=globex").await),
        of("globex")
    );
    // A page is bounded however much is asked for.
    let huge = page(&s, &s.admin, "?limit=100000").await;
    assert!(ids(&huge).len() <= 500);

    // A tenant's credential: its own accounts without the filter or with its own id; another
    // tenant's are invisible (an empty page, as for a tenant with no accounts).
    let (_, acme) = s
        .issue(json!({"tenant_id": "acme", "name": "acme reader", "roles": ["auditor"]}))
        .await;
    assert_eq!(ids(&page(&s, &acme, "").await), of("acme"));
    assert_eq!(ids(&page(&s, &acme, "?tenant_id=acme").await), of("acme"));
    let foreign = page(&s, &acme, "?tenant_id=globex").await;
    assert_eq!(
        (ids(&foreign).len(), &foreign["next_after"]),
        (0, &Value::Null)
    );
    s.shut_down().await;
}

async fn readiness_detail_needs_a_platform_credential_with_nodes_read(t: TestStore) {
    let s = server(t.store.clone(), api::RateLimitConfig::default()).await;
    let anonymous = s
        .http
        .get(format!("{}/readyz", s.base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(anonymous.status(), StatusCode::OK);
    let verdict: Value = anonymous.json().await.expect("json");
    assert_eq!(verdict, json!({"ready": true}), "the verdict only");
    // Another scheme (a load balancer's basic auth) asks for nothing.
    let basic = s
        .http
        .get(format!("{}/readyz", s.base))
        .basic_auth("lb", Some("pw"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(
        basic.json::<Value>().await.expect("json"),
        json!({"ready": true})
    );

    // The platform admin: every component.
    let (status, detail) = s.call(&s.admin, "GET", "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["store"], true, "{detail}");
    assert_eq!(detail["chain"]["configured"], false, "{detail}");
    assert_eq!(detail["nodes"]["alpha"]["ready"], true, "{detail}");

    // A platform operator has nodes:read; a platform integration key does not; a tenant's
    // admin is a tenant's; a bad key is no credential.
    s.tenant("acme").await;
    let (_, operator) = s.issue(json!({"name": "ops", "roles": ["operator"]})).await;
    let (_, integration) = s
        .issue(json!({"name": "erp", "roles": ["integration"]}))
        .await;
    let (_, tenant_admin) = s
        .issue(json!({"tenant_id": "acme", "name": "acme admin", "roles": ["admin"]}))
        .await;
    let (status, detail) = s.call(&operator, "GET", "/readyz", None).await;
    assert_eq!(
        (status, &detail["nodes"]["alpha"]["healthy"]),
        (StatusCode::OK, &json!(true))
    );
    for (key, want) in [
        (integration.as_str(), (StatusCode::FORBIDDEN, "forbidden")),
        (
            tenant_admin.as_str(),
            (StatusCode::FORBIDDEN, "platform_only"),
        ),
        ("fgk_nope", (StatusCode::UNAUTHORIZED, "unauthenticated")),
    ] {
        let (status, problem) = s.call(key, "GET", "/readyz", None).await;
        assert_eq!((status, code(&problem)), want, "{problem}");
        assert!(problem.get("nodes").is_none());
    }
    s.shut_down().await;
}

/// A chain source that counts how often it is asked.
struct CountingTip {
    reads: AtomicUsize,
}

/// `ChainTip` is an `async_trait`; this is its expansion (no macro crate needed here).
impl ChainTip for CountingTip {
    fn tip_height<'life0, 'async_trait>(
        &'life0 self,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<u32, NodeError>> + Send + 'async_trait>,
    >
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.reads.fetch_add(1, Ordering::SeqCst);
            // Long enough that concurrent callers overlap.
            tokio::task::yield_now().await;
            Ok(0)
        })
    }
}

async fn the_chain_tip_is_read_at_most_once_a_second(t: TestStore) {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let pool = Arc::new(NodePool::new());
    pool.add(Arc::new(testkit::FakeNode::new("alpha", 1)))
        .expect("node");
    let tip = Arc::new(CountingTip {
        reads: AtomicUsize::new(0),
    });
    let gateway = Gateway::builder(
        t.store.clone(),
        clock.clone() as Arc<dyn Clock>,
        Arc::new(RandomIds),
        GatewayConfig::default(),
    )
    .chain_tip(tip.clone())
    .build(pool);
    let reads = || tip.reads.load(Ordering::SeqCst);

    // A flood at one instant: one read.
    let flood: Vec<_> = (0..64)
        .map(|_| {
            let gateway = gateway.clone();
            tokio::spawn(async move { gateway.health().readiness().await })
        })
        .collect();
    for probe in flood {
        let found = probe.await.expect("join");
        assert_eq!(found.chain.tip_height, Some(0));
    }
    assert_eq!(reads(), 1);
    // Within the second: still that reading.
    clock.advance_ms(999);
    gateway.health().readiness().await;
    assert_eq!(reads(), 1);
    // A second later: a new one, then reused again.
    clock.advance_ms(1);
    gateway.health().readiness().await;
    gateway.health().readiness().await;
    assert_eq!(reads(), 2);
    // A clock set back does not pin an old reading.
    clock.advance_ms(-10_000);
    gateway.health().readiness().await;
    assert_eq!(reads(), 3);
}
