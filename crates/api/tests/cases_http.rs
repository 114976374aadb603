//! Alerts → case → suspicious activity report over real HTTP with real nodes, on both
//! stores: a large receipt and a large payment raise alerts; an officer groups them into
//! a case, adds findings, drafts the report (due 24 hours after the first detection),
//! exports it as JSON and as goAML XML (validated by python's xmlschema against the goAML
//! schema the report follows), watches it fall overdue as the clock moves (the gauge
//! Prometheus alerts on), and files it with the unit's reference. A payment naming a
//! watch-listed beneficiary is held for review, and money from a watch-listed payer
//! waits in suspense. Tenant credentials and
//! other roles never see a case (tipping off); hostile requests get problems.

use std::sync::Arc;

use gateway::{EurRateConfig, GatewayConfig};
use kernel::ManualClock;
use node_pool::LightningNode;
use reqwest::StatusCode;
use serde_json::{json, Value};
use store::testing::TestStore;

mod common;
mod lab_server;

use lab_server::Server;

store::on_both_stores!(an_officer_works_alerts_into_a_filed_report_over_http);

/// 50,000,000 EUR per BTC: one euro cent is 20 msat, so 6,000 EUR fits the lab's channel.
const EUR_CENTS_PER_BTC: u64 = 5_000_000_000;
const HOUR_MS: i64 = 3_600_000;

async fn issue(s: &Server, body: Value) -> String {
    let (status, issued) = s.call("POST", "/v1/apikeys", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    issued["key"].as_str().expect("key").to_string()
}

/// The open alerts of a receipt or a payment (`filter` is the query), once raised.
async fn alerts_of(s: &Server, officer: &str, filter: &str) -> Vec<Value> {
    for _ in 0..300 {
        let (status, page) = s
            .call_as(officer, "GET", &format!("/v1/alerts?{filter}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let found = page["data"].as_array().cloned().unwrap_or_default();
        if !found.is_empty() {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no alert for {filter}");
}

async fn overdue(gateway: &gateway::Gateway) -> f64 {
    gateway
        .gauges()
        .await
        .expect("gauges")
        .iter()
        .find(|g| g.name == "fulgur_sar_overdue")
        .expect("the gauge is always there")
        .value
}

async fn an_officer_works_alerts_into_a_filed_report_over_http(t: TestStore) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis() as i64;
    let clock = Arc::new(ManualClock::new(now));
    let config = GatewayConfig {
        eur_rate: EurRateConfig {
            eur_cents_per_btc: EUR_CENTS_PER_BTC,
            source: "fixed:test".into(),
        },
        ..GatewayConfig::default()
    };
    let (s, gateway) = lab_server::server_with(t.store.clone(), config, clock.clone(), None).await;
    let officer = issue(&s, json!({"name": "officer", "roles": ["compliance"]})).await;
    let auditor = issue(&s, json!({"name": "auditor", "roles": ["auditor"]})).await;
    s.call(
        "POST",
        "/v1/tenants",
        Some(json!({"id": "acme", "name": "Acme"})),
    )
    .await;
    let tenant_admin = issue(
        &s,
        json!({"name": "acme-admin", "roles": ["admin"], "tenant_id": "acme"}),
    )
    .await;
    let (_, account) = s
        .call(
            "POST",
            "/v1/accounts",
            Some(json!({"tenant_id": "acme", "name": "operating"})),
        )
        .await;
    let account = account["id"].as_str().expect("account").to_string();

    // 15,000 EUR received: held in suspense for review.
    let (_, invoice) = s
        .call(
            "POST",
            "/v1/invoices",
            Some(json!({"account_id": account, "amount_msat": 30_000_000u64, "description": "funding"})),
        )
        .await;
    let carol = s.lab.node("carol").expect("carol");
    carol
        .pay_invoice(invoice["bolt11"].as_str().expect("bolt11"), None, None)
        .await
        .expect("carol pays");
    let invoice_id = invoice["id"].as_str().expect("id");
    let inbound = alerts_of(&s, &officer, &format!("invoice_id={invoice_id}")).await;
    let inbound_id = inbound[0]["id"].as_str().expect("id").to_string();
    let (status, _) = s
        .call_as(
            &officer,
            "POST",
            &format!("/v1/alerts/{inbound_id}/decide"),
            Some(json!({"decision": "release", "reason": "funding from the parent"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // 6,000 EUR sent: held for review.
    let bill = carol
        .create_invoice(12_000_000, "supplier", 3_600)
        .await
        .expect("invoice");
    let (status, payment) = s
        .call(
            "POST",
            "/v1/payments",
            Some(json!({"account_id": account, "bolt11": bill.bolt11})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{payment}");
    let payment_id = payment["id"].as_str().expect("id").to_string();
    let outbound = alerts_of(&s, &officer, &format!("payment_id={payment_id}")).await;
    let outbound_id = outbound[0]["id"].as_str().expect("id").to_string();

    // A payment naming a watch-listed beneficiary is held for review, whatever its size.
    let (status, _) = s
        .call_as(
            &officer,
            "POST",
            "/v1/screening/watchlist",
            Some(json!({"kind": "name", "value": "Northwind Shell Trading", "reason": "FIU notice 7"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let small = carol
        .create_invoice(200_000, "consulting", 3_600)
        .await
        .expect("invoice");
    let body = |beneficiary: Value| json!({"account_id": account, "bolt11": small.bolt11, "beneficiary": beneficiary});
    let (status, problem) = s
        .call(
            "POST",
            "/v1/payments",
            Some(body(json!({"name": "Northwind", "kind": "alien"}))),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")),
        "{problem}"
    );
    assert!(problem["detail"]
        .as_str()
        .unwrap_or("")
        .contains("beneficiary.kind"));
    let (status, held) = s
        .call(
            "POST",
            "/v1/payments",
            Some(body(
                json!({"name": "NORTHWIND SHELL TRADING LTD.", "kind": "organization"}),
            )),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    assert_eq!(held["status"], "held_for_review");
    let held_id = held["id"].as_str().expect("id");
    let named = alerts_of(&s, &officer, &format!("payment_id={held_id}")).await;
    assert_eq!(named[0]["rule"], "sanctions_match");
    assert!(named[0]["evidence"]
        .as_str()
        .expect("evidence")
        .contains("internal entry"));

    // Money from an expected payer on the watchlist waits in suspense for review.
    let (status, problem) = s
        .call(
            "POST",
            "/v1/invoices",
            Some(json!({"account_id": account, "amount_msat": 200_000u64,
                "payer": {"name": "x", "birth_year": 99_999_999_999i64}})),
        )
        .await;
    assert_eq!(problem["code"], "invalid_field", "{status} {problem}");
    let (status, expected) = s
        .call(
            "POST",
            "/v1/invoices",
            Some(
                json!({"account_id": account, "amount_msat": 200_000u64, "description": "fees",
                "payer": {"name": "Northwind Shell Trading", "country": "Cyprus"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{expected}");
    carol
        .pay_invoice(expected["bolt11"].as_str().expect("bolt11"), None, None)
        .await
        .expect("carol pays");
    let expected_id = expected["id"].as_str().expect("id");
    let held_in = alerts_of(&s, &officer, &format!("invoice_id={expected_id}")).await;
    assert_eq!(
        (&held_in[0]["rule"], &held_in[0]["direction"]),
        (&json!("sanctions_match"), &json!("in"))
    );
    assert!(held_in[0]["evidence"]
        .as_str()
        .expect("evidence")
        .starts_with("payer \"Northwind Shell Trading\""));

    // Nobody but the compliance role sees or makes a case: not the tenant's own admin
    // (tipping off), not an auditor.
    let open_body = json!({"alert_ids": [inbound_id, outbound_id]});
    for key in [&tenant_admin, &auditor] {
        let (status, problem) = s
            .call_as(key, "POST", "/v1/cases", Some(open_body.clone()))
            .await;
        assert!(
            [StatusCode::FORBIDDEN, StatusCode::NOT_FOUND].contains(&status),
            "{status} {problem}"
        );
        let (status, _) = s.call_as(key, "GET", "/v1/cases", None).await;
        assert!([StatusCode::FORBIDDEN, StatusCode::NOT_FOUND].contains(&status));
    }
    // Hostile bodies.
    for (body, code) in [
        (json!({"alert_ids": []}), "invalid_field"),
        (json!({"alert_ids": ["alr_nope"]}), "alert_not_found"),
        (
            json!({"alert_ids": [inbound_id], "extra": 1}),
            "invalid_field",
        ),
        (json!({"alert_ids": "x"}), "invalid_field"),
    ] {
        let (status, problem) = s.call_as(&officer, "POST", "/v1/cases", Some(body)).await;
        assert_eq!(problem["code"], code, "{status} {problem}");
    }

    let (status, case) = s
        .call_as(&officer, "POST", "/v1/cases", Some(open_body.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    assert_eq!(case["state"], "open");
    assert_eq!(case["alerts"].as_array().map(Vec::len), Some(2));
    let case_id = case["id"].as_str().expect("id").to_string();
    let (status, problem) = s
        .call_as(&officer, "POST", "/v1/cases", Some(open_body))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("alert_in_case"))
    );

    let notes = format!("/v1/cases/{case_id}/notes");
    let (status, case) = s
        .call_as(
            &officer,
            "POST",
            &notes,
            Some(json!({"text": "Funds left within the hour to a new supplier <unverified> & unknown.",
                "evidence": "ticket KYC-1138"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    assert_eq!(case["state"], "investigating");
    let (status, _) = s
        .call_as(
            &officer,
            "POST",
            &notes,
            Some(json!({"body": "Supplier has no website."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "`body` is taken for `text`");

    let sar = format!("/v1/cases/{case_id}/sar");
    let (status, problem) = s.call_as(&officer, "GET", &sar, None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("report_not_found"))
    );
    let (status, drafted) = s.call_as(&officer, "POST", &sar, None).await;
    assert_eq!(status, StatusCode::CREATED, "{drafted}");
    assert_eq!(drafted["state"], "draft");
    let (_, case) = s
        .call_as(&officer, "GET", &format!("/v1/cases/{case_id}"), None)
        .await;
    let detected = chrono::DateTime::parse_from_rfc3339(case["detected_at"].as_str().expect("t"))
        .expect("rfc3339");
    let due = chrono::DateTime::parse_from_rfc3339(drafted["due_at"].as_str().expect("t"))
        .expect("rfc3339");
    assert_eq!((due - detected).num_hours(), 24);
    let (status, again) = s.call_as(&officer, "POST", &sar, None).await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &drafted["id"]));

    // The JSON export: both payments with their msat, EUR value and rate.
    let (status, export) = s
        .call_as(&officer, "GET", &format!("{sar}?format=json"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let report = &export["report"];
    assert_eq!(report["report_code"], "STR");
    let transactions = report["transactions"].as_array().expect("transactions");
    let amounts: Vec<(&str, u64, u64)> = transactions
        .iter()
        .map(|t| {
            (
                t["direction"].as_str().expect("direction"),
                t["amount_msat"].as_u64().expect("msat"),
                t["amount_eur_cents"].as_u64().expect("eur"),
            )
        })
        .collect();
    assert_eq!(
        amounts,
        [("in", 30_000_000, 1_500_000), ("out", 12_000_000, 600_000)]
    );
    assert_eq!(transactions[1]["eur_cents_per_btc"], EUR_CENTS_PER_BTC);
    assert_eq!(
        transactions[1]["counterparty_node"],
        carol.info().node_id.to_string()
    );
    assert!(report["narrative"]
        .as_str()
        .expect("narrative")
        .contains("Supplier has no website."));
    assert!(report["indicators"]
        .as_array()
        .expect("indicators")
        .contains(&json!("large_payment")));

    // The goAML export, validated by an outside validator.
    let response = s
        .http
        .get(format!("{}{sar}?format=goaml", s.base))
        .bearer_auth(&officer)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("type")
        .starts_with("application/xml"));
    let xml = response.text().await.expect("xml");
    goaml::validate_with_xmlschema(&xml).unwrap_or_else(|e| panic!("invalid goAML: {e}\n{xml}"));
    assert!(xml.contains("&lt;unverified&gt; &amp; unknown"), "escaped");
    let (status, problem) = s
        .call_as(&officer, "GET", &format!("{sar}?format=pdf"), None)
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );

    // The clock: not overdue at the due time, overdue past it.
    assert_eq!(overdue(&gateway).await, 0.0);
    clock.advance_ms(25 * HOUR_MS);
    assert_eq!(overdue(&gateway).await, 1.0);

    // Closing without filing a drafted report is refused; filing closes the case.
    let (status, problem) = s
        .call_as(
            &officer,
            "PATCH",
            &format!("/v1/cases/{case_id}"),
            Some(json!({"state": "closed_no_action", "reason": "done"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("report_pending"))
    );
    let filed_path = format!("{sar}/filed");
    let (status, problem) = s
        .call_as(
            &officer,
            "POST",
            &filed_path,
            Some(json!({"reference": ""})),
        )
        .await;
    assert_eq!(problem["code"], "invalid_field", "{status}");
    let (status, filed) = s
        .call_as(
            &officer,
            "POST",
            &filed_path,
            Some(json!({"reference": "FIU-DE-2026-000042"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{filed}");
    assert_eq!(
        (&filed["state"], &filed["reference"]),
        (&json!("filed"), &json!("FIU-DE-2026-000042"))
    );
    assert_eq!(overdue(&gateway).await, 0.0);
    let (status, problem) = s
        .call_as(
            &officer,
            "POST",
            &filed_path,
            Some(json!({"reference": "again"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("report_filed"))
    );
    let (_, case) = s
        .call_as(&officer, "GET", &format!("/v1/cases/{case_id}"), None)
        .await;
    assert_eq!(case["state"], "closed_reported");
    let (status, problem) = s
        .call_as(&officer, "POST", &notes, Some(json!({"text": "late"})))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("case_closed"))
    );
    // As filed: the reference in the report, frozen.
    let (_, export) = s
        .call_as(&officer, "GET", &format!("{sar}?format=json"), None)
        .await;
    assert_eq!(export["report"]["fiu_ref_number"], "FIU-DE-2026-000042");

    // The month's figures: the receipt and the payment, their alerts, the case opened
    // and closed as reported, its report filed late (25 hours after detection). Detection
    // and filing may fall in two months: both months together are exact.
    let month = |rfc: &str| rfc[..7].to_string();
    let months = [
        month(case["detected_at"].as_str().expect("t")),
        month(filed["filed_at"].as_str().expect("t")),
    ];
    let total = |field: &str, reports: &[Value]| -> u64 {
        reports.iter().map(|r| r[field].as_u64().unwrap_or(0)).sum()
    };
    let mut reports = Vec::new();
    for label in months.iter().collect::<std::collections::BTreeSet<_>>() {
        let (status, report) = s
            .call_as(
                &officer,
                "GET",
                &format!("/v1/compliance/reports/{label}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        reports.push(report);
    }
    assert_eq!(total("payments_screened", &reports), 2);
    assert_eq!(total("receipts_monitored", &reports), 2);
    assert_eq!(total("large_transactions", &reports), 2);
    assert_eq!(total("cases_opened", &reports), 1);
    assert_eq!(total("reports_filed", &reports), 1);
    assert_eq!(total("reports_filed_on_time", &reports), 0);
    assert_eq!(total("reports_late", &reports), 1);
    let closed: Vec<Value> = reports
        .iter()
        .flat_map(|r| r["cases_closed"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(
        (&closed[0]["key"], &closed[0]["count"]),
        (&json!("closed_reported"), &json!(1))
    );
    // As CSV for a spreadsheet.
    let csv = s
        .http
        .get(format!("{}/v1/compliance/reports/{}", s.base, months[0]))
        .bearer_auth(&officer)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("request");
    assert!(csv.headers()["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/csv"));
    let csv = csv.text().await.expect("csv");
    assert!(csv.starts_with("section,key,value\n"), "{csv}");
    assert!(csv.contains("cases,opened,1\n"), "{csv}");
    for bad in [
        "2026-13", "2026-Q5", "2026-1", "26-11", "99999-01", "2026-Q", "now",
    ] {
        let (status, problem) = s
            .call_as(
                &officer,
                "GET",
                &format!("/v1/compliance/reports/{bad}"),
                None,
            )
            .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")),
            "{bad}"
        );
    }
    s.shut_down().await;
}
