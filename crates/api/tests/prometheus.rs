//! A real Prometheus (Debian's `prometheus`, started by the test) scrapes `/metrics` over
//! HTTPS with a bearer credential of the operator role, as an operator would configure it.

use std::process::Stdio;
use std::time::Duration;

use api::RateLimitConfig;
use serde_json::{json, Value};
use store::testing::TestStore;

mod common;
mod guarded;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[tokio::test]
async fn prometheus_scrapes_the_metrics_endpoint() {
    let prometheus = std::path::Path::new("/usr/bin/prometheus");
    assert!(
        prometheus.exists(),
        "Prometheus is not installed: apt-get install prometheus (.ci/run does)"
    );
    let t = TestStore::sqlite().await.expect("store");
    let s = guarded::server(t.store.clone(), RateLimitConfig::default()).await;
    let (_, operator) = s
        .issue(json!({"name": "prometheus", "roles": ["operator"]}))
        .await;
    let dir = tempfile::tempdir().expect("dir");
    let key_file = dir.path().join("scrape.key");
    std::fs::write(&key_file, &operator).expect("key file");
    let target = s.base.trim_start_matches("https://").to_string();
    let rules =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus/rules");
    let config = format!(
        r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {slo}
  - {alerts}
scrape_configs:
  - job_name: fulgur
    scheme: https
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: {key}
    tls_config:
      ca_file: {ca}
    static_configs:
      - targets: ["{target}"]
"#,
        key = key_file.display(),
        ca = s.ca_file().expect("CA").display(),
        slo = rules.join("slo.rules.yml").display(),
        alerts = rules.join("fulgur.alerts.yml").display(),
    );
    let config_file = dir.path().join("prometheus.yml");
    std::fs::write(&config_file, config).expect("config");
    let web = free_port();
    let _prometheus = tokio::process::Command::new(prometheus)
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus starts");

    let http = reqwest::Client::new();
    let query = |q: &'static str| {
        let http = http.clone();
        async move {
            let answer: Value = http
                .get(format!("http://127.0.0.1:{web}/api/v1/query"))
                .query(&[("query", q)])
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            answer["data"]["result"][0]["value"][1]
                .as_str()
                .map(str::to_string)
        }
    };
    let mut waited = 0;
    while query(r#"up{job="fulgur"}"#).await.as_deref() != Some("1") {
        waited += 1;
        assert!(
            waited < 120,
            "Prometheus did not scrape the target successfully"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // What it scraped is ours: the API's request counter, by route template.
    let issued = query(r#"fulgur_api_requests_total{route="/v1/apikeys",status="201"}"#).await;
    assert_eq!(issued.as_deref(), Some("1"));

    // The shipped rules load and evaluate on this data: every group healthy, and the
    // API-latency SLO's recording rule has a value (no request took over 1 s).
    let mut ratio = None;
    for _ in 0..120 {
        // Traffic, so that the ratio's rates are not 0/0.
        let _ = s.call(&operator, "GET", "/v1/nodes", None).await;
        ratio = query("fulgur:slo_api_latency_errors:ratio_rate5m").await;
        if ratio.as_deref().is_some_and(|r| r != "NaN") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(ratio.as_deref(), Some("0"), "the recording rule evaluates");
    let rules: Value = http
        .get(format!("http://127.0.0.1:{web}/api/v1/rules"))
        .send()
        .await
        .expect("rules")
        .json()
        .await
        .expect("json");
    let groups = rules["data"]["groups"].as_array().expect("groups");
    let loaded: usize = groups
        .iter()
        .map(|g| g["rules"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(groups.len() >= 3 && loaded >= 30, "{rules}");
    for group in groups {
        for rule in group["rules"].as_array().expect("rules") {
            assert_eq!(rule["health"], "ok", "{rule}");
        }
    }
    s.shut_down().await;
}
