//! What ships in `deploy/` is checked with the real tools: Prometheus's config and rules
//! by `promtool check`, every alert by `promtool test rules`, and every Grafana panel's
//! query parsed by promtool as PromQL. (That each query names a metric the service
//! exports is checked against a real scrape in `api/tests/observability.rs`.)
//! promtool comes with Debian's `prometheus` package, which `.ci/run` installs; without
//! it these tests fail rather than skip.

use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Runs promtool in `dir`; panics with its output unless it succeeds.
fn promtool(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs (Debian package prometheus)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

fn files(dir: &Path, suffix: &str) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(suffix))
        .collect();
    found.sort();
    found
}

#[test]
fn prometheus_config_and_rules_pass_promtool() {
    let prometheus = deploy().join("prometheus");
    promtool(
        &prometheus,
        &["check", "config", "--syntax-only", "prometheus.yml"],
    );
    let rules = prometheus.join("rules");
    let rule_files = files(&rules, ".yml");
    assert!(rule_files.len() >= 2, "{rule_files:?}");
    let mut args = vec!["check", "rules"];
    args.extend(rule_files.iter().map(String::as_str));
    let checked = promtool(&rules, &args);
    assert!(!checked.contains("FAILED"), "{checked}");
}

#[test]
fn every_alert_is_unit_tested_and_the_tests_pass() {
    let prometheus = deploy().join("prometheus");
    let alerts =
        std::fs::read_to_string(prometheus.join("rules/fulgur.alerts.yml")).expect("rules");
    let tests = std::fs::read_to_string(prometheus.join("tests/alerts.test.yml")).expect("tests");
    let names: Vec<&str> = alerts
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    for name in &names {
        // An expectation with alerts, not only a quiet check, for each alert.
        let fires = tests.split("- eval_time:").any(|check| {
            check.contains(&format!("alertname: {name}\n")) && check.contains("exp_labels:")
        });
        assert!(fires, "no promtool test shows {name} firing");
    }
    let tested = promtool(
        &prometheus.join("tests"),
        &["test", "rules", "alerts.test.yml"],
    );
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// Every query of every panel, by dashboard.
fn dashboard_queries() -> Vec<(String, String)> {
    let grafana = deploy().join("grafana");
    let mut queries = Vec::new();
    for file in files(&grafana, ".json") {
        let text = std::fs::read_to_string(grafana.join(&file)).expect("dashboard");
        let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert!(
            dashboard["uid"].is_string() && dashboard["title"].is_string(),
            "{file}"
        );
        let panels = dashboard["panels"].as_array().expect("panels");
        assert!(!panels.is_empty(), "{file} has no panels");
        for panel in panels {
            assert_eq!(panel["datasource"]["type"], "prometheus", "{file}: {panel}");
            let targets = panel["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{file}: panel without a query");
            for target in targets {
                let expr = target["expr"].as_str().expect("expr").to_string();
                queries.push((file.clone(), expr));
            }
        }
    }
    queries
}

#[test]
fn the_three_dashboards_ship_and_every_panel_query_is_valid_promql() {
    let grafana = deploy().join("grafana");
    assert_eq!(
        files(&grafana, ".json"),
        ["executive.json", "financial.json", "operational.json"]
    );
    // promtool parses rule expressions: each query becomes a recording rule.
    let queries = dashboard_queries();
    let mut rules = String::from("groups:\n  - name: dashboard-queries\n    rules:\n");
    for (i, (_, expr)) in queries.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(expr).expect("quoted")
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("queries.yml"), rules).expect("write");
    let checked = promtool(dir.path(), &["check", "rules", "queries.yml"]);
    assert!(
        checked.contains(&format!("{} rules found", queries.len())),
        "{checked}"
    );
}
