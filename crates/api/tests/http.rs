//! The HTTP API over real HTTP against the real server, gateway and nodes, on both stores:
//! authentication, the documented status and problem code for each kind of bad input,
//! idempotency over the wire, money moving both ways, and signed webhooks for it delivered
//! to a real receiver.

use std::time::Duration;

use node_pool::LightningNode;
use reqwest::StatusCode;
use serde_json::{json, Value};
use store::testing::TestStore;
use webhooks::testing::Receiver;

mod common;
mod lab_server;

use lab_server::{read, server_with, Server};

/// The API with the default gateway settings.
async fn server(store: store::Store) -> Server {
    server_with(
        store,
        gateway::GatewayConfig::default(),
        std::sync::Arc::new(kernel::SystemClock),
        None,
    )
    .await
    .0
}

store::on_both_stores!(the_api_moves_money_and_answers_bad_input_with_problems);

fn code(value: &Value) -> &str {
    value["code"].as_str().unwrap_or("")
}

async fn the_api_moves_money_and_answers_bad_input_with_problems(t: TestStore) {
    let s = server(t.store.clone()).await;
    let carol = s.lab.node("carol").expect("carol");

    // Authentication, discovery, health.
    let anonymous = s
        .http
        .get(format!("{}/v1/nodes", s.base))
        .send()
        .await
        .expect("req");
    let (status, body) = read(anonymous).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let wrong = s
        .http
        .get(format!("{}/v1/nodes", s.base))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("req");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let (status, spec) = s.call("GET", "/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["openapi"].as_str().unwrap_or("").starts_with("3.1"));
    assert!(spec["paths"]["/v1/payments"]["post"].is_object());
    assert_eq!(s.call("GET", "/healthz", None).await.0, StatusCode::OK);
    let (status, ready) = s.call("GET", "/readyz", None).await;
    assert_eq!(
        (status, ready["ready"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let (_, nodes) = s.call("GET", "/v1/nodes", None).await;
    assert_eq!(nodes[0]["name"], "alpha");
    assert_eq!(nodes[0]["state"], "healthy");

    // A tenant, an account, an invoice carol pays.
    let (status, _) = s
        .call(
            "POST",
            "/v1/tenants",
            Some(json!({"id": "treasury", "name": "Treasury"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, account) = s
        .call(
            "POST",
            "/v1/accounts",
            Some(json!({"tenant_id": "treasury", "name": "ops"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    let account_id = account["id"].as_str().expect("id").to_string();

    // A webhook for the tenant's money events; bad subscriptions are refused.
    let receiver = Receiver::start().await;
    for (body, want) in [
        (
            json!({"tenant_id": "treasury", "url": "ftp://x/y", "event_types": ["*"]}),
            "invalid_field",
        ),
        (
            json!({"tenant_id": "nobody", "url": format!("{}/t", receiver.base), "event_types": ["*"]}),
            "invalid_field",
        ),
        (
            json!({"tenant_id": "treasury", "url": format!("{}/t", receiver.base), "event_types": ["invoice.maybe"]}),
            "invalid_field",
        ),
    ] {
        let (status, problem) = s.call("POST", "/v1/webhooks", Some(body)).await;
        assert_eq!(
            (status, code(&problem)),
            (StatusCode::UNPROCESSABLE_ENTITY, want)
        );
    }
    let (status, webhook) = s
        .call(
            "POST",
            "/v1/webhooks",
            Some(json!({
                "tenant_id": "treasury",
                "url": format!("{}/treasury", receiver.base),
                "event_types": ["invoice.paid", "payment.succeeded"],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    let webhook_id = webhook["id"].as_str().expect("id").to_string();
    let secret = webhook["secret"]
        .as_str()
        .expect("secret shown once")
        .to_string();
    let (_, listed) = s.call("GET", "/v1/webhooks?tenant_id=treasury", None).await;
    assert_eq!(listed["data"][0]["id"], webhook_id.as_str());
    assert!(listed["data"][0].get("secret").is_none(), "shown only once");
    let (status, invoice) = s
        .call(
            "POST",
            "/v1/invoices",
            Some(json!({"account_id": account_id, "amount_msat": 60_000_000, "description": "order"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invoice}");
    assert_eq!(invoice["status"], "open");
    carol
        .pay_invoice(invoice["bolt11"].as_str().expect("bolt11"), None, None)
        .await
        .expect("carol pays");
    let invoice_path = format!("/v1/invoices/{}", invoice["id"].as_str().expect("id"));
    let mut paid = Value::Null;
    for _ in 0..300 {
        paid = s.call("GET", &invoice_path, None).await.1;
        if paid["status"] == "paid" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(paid["status"], "paid", "{paid}");
    let (_, balance) = s
        .call("GET", &format!("/v1/accounts/{account_id}"), None)
        .await;
    assert_eq!(balance["balance_msat"], 60_000_000);
    assert_eq!(balance["available_msat"], 60_000_000);

    // A payment to carol with an idempotency key, replayed, then misused.
    let carol_invoice = carol
        .create_invoice(25_000_000, "supplier", 600)
        .await
        .expect("inv");
    let request = json!({"account_id": account_id, "bolt11": carol_invoice.bolt11});
    let post_keyed = |body: String, key: &'static str| {
        s.http
            .post(format!("{}/v1/payments", s.base))
            .bearer_auth(&s.key)
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(body)
            .send()
    };
    let (status, first) = read(post_keyed(request.to_string(), "k-1").await.expect("req")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let (status, again) = read(post_keyed(request.to_string(), "k-1").await.expect("req")).await;
    assert_eq!(
        (status, &again),
        (StatusCode::ACCEPTED, &first),
        "a replay answers the same"
    );
    let other =
        json!({"account_id": account_id, "bolt11": carol_invoice.bolt11, "max_fee_msat": 1});
    let (status, refused) = read(post_keyed(other.to_string(), "k-1").await.expect("req")).await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
    );
    let payment_path = format!("/v1/payments/{}", first["id"].as_str().expect("id"));
    let mut payment = Value::Null;
    for _ in 0..300 {
        payment = s.call("GET", &payment_path, None).await.1;
        if payment["status"] == "succeeded" || payment["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(payment["status"], "succeeded", "{payment}");
    assert!(payment["preimage"].is_string());
    let fee = payment["fee_msat"].as_i64().expect("fee");
    let (_, balance) = s
        .call("GET", &format!("/v1/accounts/{account_id}"), None)
        .await;
    assert_eq!(balance["balance_msat"].as_i64(), Some(35_000_000 - fee));
    let (_, entries) = s
        .call(
            "GET",
            &format!("/v1/accounts/{account_id}/entries?limit=1"),
            None,
        )
        .await;
    assert_eq!(entries["data"][0]["amount_msat"], 60_000_000);
    let after = entries["next_after"].as_i64().expect("more pages");
    let (_, rest) = s
        .call(
            "GET",
            &format!("/v1/accounts/{account_id}/entries?after={after}"),
            None,
        )
        .await;
    assert_eq!(rest["data"][0]["amount_msat"], -25_000_000);

    // The webhook got both money events, signed with its secret.
    for _ in 0..300 {
        if receiver.got("treasury").len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = receiver.got("treasury");
    assert_eq!(got.len(), 2, "invoice.paid and payment.succeeded");
    let mut types: Vec<String> = got.iter().map(|r| r.header("fulgur-event-type")).collect();
    types.sort();
    assert_eq!(types, ["invoice.paid", "payment.succeeded"]);
    let now_secs = unix_now_secs();
    for r in &got {
        let signature = r.header("fulgur-signature");
        webhooks::verify(&secret, &signature, &r.body, now_secs, 300).expect("signature");
        let event: Value = serde_json::from_slice(&r.body).expect("json");
        let expected_id = match event["type"].as_str() {
            Some("invoice.paid") => &invoice["id"],
            _ => &first["id"],
        };
        assert_eq!(&event["data"]["id"], expected_id, "{event}");
    }
    let (_, deliveries) = s
        .call(
            "GET",
            &format!("/v1/webhooks/{webhook_id}/deliveries?state=delivered"),
            None,
        )
        .await;
    let delivered = deliveries["data"].as_array().expect("data");
    assert_eq!(delivered.len(), 2, "{deliveries}");
    let delivery_path = format!(
        "/v1/webhooks/{webhook_id}/deliveries/{}",
        delivered[0]["id"].as_str().expect("id")
    );
    let (_, detail) = s.call("GET", &delivery_path, None).await;
    assert_eq!(detail["attempt_log"][0]["status_code"], 200, "{detail}");
    let (status, again) = s
        .call("POST", &format!("{delivery_path}/redeliver"), None)
        .await;
    assert_eq!(
        (status, &again["state"]),
        (StatusCode::ACCEPTED, &json!("pending"))
    );
    for _ in 0..300 {
        if receiver.got("treasury").len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = receiver.got("treasury");
    assert_eq!(got.len(), 3, "redelivered");
    assert_eq!(
        got[2].header("fulgur-event-id"),
        detail["event_id"].as_str().expect("event")
    );
    let (status, problem) = s
        .call(
            "GET",
            &format!("/v1/webhooks/{webhook_id}/deliveries?state=lost"),
            None,
        )
        .await;
    assert_eq!(
        (status, code(&problem)),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );
    let rotate = format!("/v1/webhooks/{webhook_id}/rotate-secret");
    let (status, rotated) = s.call("POST", &rotate, Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().expect("new secret");
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let (status, problem) = s
        .call("POST", &rotate, Some(json!({"overlap_secs": 999_999_999})))
        .await;
    assert_eq!(
        (status, code(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
    let (status, disabled) = s
        .call("DELETE", &format!("/v1/webhooks/{webhook_id}"), None)
        .await;
    assert_eq!(
        (status, &disabled["enabled"]),
        (StatusCode::OK, &json!(false))
    );
    let (status, problem) = s.call("GET", "/v1/webhooks/whk_nope", None).await;
    assert_eq!(
        (status, code(&problem)),
        (StatusCode::NOT_FOUND, "webhook_not_found")
    );

    // Bad input: the right status and problem code, and no ledger trace.
    let journal_before = journal_count(&t.store).await;
    let raw = |body: &'static str, content_type: &'static str| {
        s.http
            .post(format!("{}/v1/payments", s.base))
            .bearer_auth(&s.key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases: Vec<(reqwest::Response, StatusCode, &str)> = vec![
        (
            raw("{not json", "application/json").await.expect("r"),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            raw("{}", "text/plain").await.expect("r"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            s.http
                .post(format!("{}/v1/payments", s.base))
                .bearer_auth(&s.key)
                .header("content-type", "application/json")
                .body(format!("{{\"account_id\":\"{}\"}}", "x".repeat(100_000)))
                .send()
                .await
                .expect("r"),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
    ];
    for (response, want_status, want_code) in cases {
        let (status, body) = read(response).await;
        assert_eq!((status, code(&body)), (want_status, want_code), "{body}");
    }
    let json_cases = [
        (
            json!({"account_id": account_id, "bolt11": "lnbcrt1nonsense"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_invoice",
        ),
        (
            json!({"account_id": "acc_missing", "bolt11": carol_invoice.bolt11}),
            StatusCode::NOT_FOUND,
            "account_not_found",
        ),
        (
            json!({"account_id": account_id, "bolt11": carol_invoice.bolt11}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invoice_already_paid",
        ),
        (
            json!({"account_id": account_id, "bolt11": "x", "amount_msat": -5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"account_id": account_id, "bolt11": "x", "amount_msat": 1e30}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"account_id": account_id, "bolt11": "x", "surprise": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ];
    for (body, want_status, want_code) in json_cases {
        let (status, problem) = s.call("POST", "/v1/payments", Some(body.clone())).await;
        assert_eq!(
            (status, code(&problem)),
            (want_status, want_code),
            "{body} → {problem}"
        );
        // Our sentence, never the decoder's internals (issue 22).
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(
            !detail.contains("bech32") && !detail.contains("Failed to deserialize"),
            "{problem}"
        );
    }
    let big = carol
        .create_invoice(500_000_000, "too much", 600)
        .await
        .expect("inv");
    let (status, problem) = s
        .call(
            "POST",
            "/v1/payments",
            Some(json!({"account_id": account_id, "bolt11": big.bolt11})),
        )
        .await;
    assert_eq!(
        (status, code(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, "insufficient_funds")
    );
    // Carol's node goes on the watchlist: a payment to her is refused before anything is
    // recorded or held, in words that do not say why; the evidence is platform-only.
    let carol_key = carol.info().node_id;
    let (status, watched) = s
        .call(
            "POST",
            "/v1/screening/watchlist",
            Some(json!({"kind": "node_pubkey", "value": carol_key, "reason": "test"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{watched}");
    let (_, before) = s
        .call("GET", &format!("/v1/accounts/{account_id}"), None)
        .await;
    let watched_invoice = carol
        .create_invoice(1_000_000, "blocked", 600)
        .await
        .expect("inv");
    let (status, problem) = s
        .call(
            "POST",
            "/v1/payments",
            Some(json!({"account_id": account_id, "bolt11": watched_invoice.bolt11})),
        )
        .await;
    assert_eq!(
        (status, code(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, "compliance_blocked")
    );
    assert_eq!(problem["detail"], "this payment cannot be made");
    let (_, after) = s
        .call("GET", &format!("/v1/accounts/{account_id}"), None)
        .await;
    assert_eq!(before["available_msat"], after["available_msat"]);
    let (_, audit) = s.call("GET", "/v1/audit?limit=500", None).await;
    let block = audit["data"]
        .as_array()
        .expect("audit")
        .iter()
        .find(|r| r["action"] == "payment.compliance_block")
        .expect("the block is on record")
        .clone();
    assert_eq!(block["tenant_id"], Value::Null, "{block}");
    assert!(block["details"]
        .as_str()
        .is_some_and(|d| d.contains(&carol_key) && d.contains("internal:")));
    let (status, problem) = s
        .call(
            "POST",
            "/v1/invoices",
            Some(json!({"account_id": account_id, "amount_msat": 0})),
        )
        .await;
    assert_eq!(
        (status, code(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
    let (status, problem) = s.call("GET", "/v1/payments/pay_nope", None).await;
    assert_eq!(
        (status, code(&problem)),
        (StatusCode::NOT_FOUND, "payment_not_found")
    );
    let (status, problem) = s.call("GET", "/v1/nowhere", None).await;
    assert_eq!(
        (status, code(&problem)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert_eq!(
        journal_count(&t.store).await,
        journal_before,
        "no ledger trace"
    );
    s.shut_down().await;
}

fn unix_now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

async fn journal_count(store: &store::Store) -> i64 {
    store
        .read(|sql| sql.query_one("SELECT COUNT(*) FROM journal", &[])?.i64(0))
        .await
        .expect("count")
}
