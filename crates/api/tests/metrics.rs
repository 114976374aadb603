//! `/metrics` after real traffic over HTTPS: requests by route template and status with
//! latency histograms, authentication failures by reason, refusals by code; the endpoint
//! itself behind the guard (scope `metrics:read`).

use api::RateLimitConfig;
use reqwest::StatusCode;
use serde_json::json;
use store::testing::TestStore;

mod common;
mod guarded;

/// One line of `text` for `metric` whose labels include every one of `labels`.
fn sample(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn traffic_shows_in_the_metrics_with_bounded_labels() {
    // Metrics are per process: one store is enough, and no other test shares this binary.
    let t = TestStore::sqlite().await.expect("store");
    let s = guarded::server(t.store.clone(), RateLimitConfig::default()).await;
    s.tenant("acme").await;
    let (_, operator) = s.issue(json!({"name": "ops", "roles": ["operator"]})).await;
    let (_, erp) = s
        .issue(json!({"tenant_id": "acme", "name": "erp", "roles": ["integration"]}))
        .await;
    let (_, account) = s
        .call(
            &erp,
            "POST",
            "/v1/accounts",
            Some(json!({"tenant_id": "acme", "name": "main"})),
        )
        .await;
    let path = format!("/v1/accounts/{}", account["id"].as_str().expect("id"));
    for _ in 0..3 {
        assert_eq!(s.call(&erp, "GET", &path, None).await.0, StatusCode::OK);
    }
    assert_eq!(
        s.call(&erp, "GET", "/v1/accounts/acc_missing", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.call("fgk_bad", "GET", &path, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.call(
            &operator,
            "POST",
            "/v1/accounts",
            Some(json!({"tenant_id": "acme", "name": "x"}))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    // Only a platform credential with metrics:read scrapes: a tenant's key is refused
    // before its scopes are looked at.
    let (status, refused) = s.call(&erp, "GET", "/metrics", None).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("platform_only"))
    );
    let response = s.send(&operator, "GET", "/metrics", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/plain"));
    let text = response.text().await.expect("body");

    let requests = |route: &str, status: &str| {
        sample(
            &text,
            "fulgur_api_requests_total",
            &[
                r#"method="GET""#,
                &format!(r#"route="{route}""#),
                &format!(r#"status="{status}""#),
            ],
        )
    };
    assert_eq!(requests("/v1/accounts/{id}", "200"), Some(3.0), "{text}");
    assert_eq!(requests("/v1/accounts/{id}", "404"), Some(1.0), "{text}");
    assert_eq!(requests("/v1/accounts/{id}", "401"), Some(1.0), "{text}");
    assert!(
        !text.contains("acc_missing"),
        "raw paths never become labels"
    );
    let within_10s = sample(
        &text,
        "fulgur_api_request_duration_seconds_bucket",
        &[r#"route="/v1/accounts/{id}""#, r#"le="10""#],
    );
    assert_eq!(within_10s, Some(5.0), "{text}");
    assert!(
        sample(&text, "fulgur_api_auth_failures_total", &["reason="]).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "fulgur_api_refusals_total", &[r#"code="forbidden""#]),
        Some(1.0),
        "the operator's POST: {text}"
    );
    assert_eq!(
        sample(
            &text,
            "fulgur_api_refusals_total",
            &[r#"code="platform_only""#]
        ),
        Some(1.0),
        "the integration's scrape: {text}"
    );
    s.shut_down().await;
}
