//! Approvals end to end over real HTTP, with real nodes, on both stores. Two
//! administrators put the customer's policy in force; an operator's payments wait in the
//! approvals queue; approvers sign the text the API gives them with their own keys; the
//! HSM keys (in a real key store) sign last; refused votes answer problems and are in the
//! audit trail. An emergency recovery waits for 4 of the 5 keys the same way.

use std::sync::Arc;

use ed25519_dalek::{Signer, SigningKey};
use gateway::{EurRateConfig, GatewayConfig, KeyStoreApprovalSigner};
use kernel::ManualClock;
use keystore::{KeyKind, KeyStore, SoftwareStore};
use node_pool::LightningNode;
use reqwest::StatusCode;
use serde_json::{json, Value};
use store::testing::TestStore;

mod common;
mod lab_server;

use lab_server::{server_with, Server};

store::on_both_stores!(payments_wait_for_signed_approvals_over_http);

/// One euro cent is 20 msat at this rate, so 20,000 EUR fits the lab's channel.
const EUR_CENTS_PER_BTC: u64 = 5_000_000_000;
const EUR: u64 = 2_000;

/// A key issued over HTTP: (id, secret).
async fn issue(s: &Server, body: Value) -> (String, String) {
    let (status, issued) = s.call("POST", "/v1/apikeys", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    (
        issued["id"].as_str().expect("id").to_string(),
        issued["key"].as_str().expect("key").to_string(),
    )
}

fn hsm(keys: &dyn KeyStore, id: &str) -> Value {
    let label = format!("approval-{id}");
    keys.generate(&label, KeyKind::Secp256k1).expect("HSM key");
    let public = hex::encode(keys.public_key(&label).expect("public").serialize());
    json!({"id": id, "name": id, "identity": null, "key": {"secp256k1": public}, "hsm_label": label})
}

fn person(id: &str, identity: &str, key: &SigningKey) -> Value {
    json!({"id": id, "name": id, "identity": identity,
        "key": {"ed25519": hex::encode(key.verifying_key().as_bytes())}, "hsm_label": null})
}

async fn payments_wait_for_signed_approvals_over_http(t: TestStore) {
    let clock = Arc::new(ManualClock::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_millis() as i64,
    ));
    let config = GatewayConfig {
        eur_rate: EurRateConfig {
            eur_cents_per_btc: EUR_CENTS_PER_BTC,
            source: "fixed:test".into(),
        },
        ..GatewayConfig::default()
    };
    let dir = tempfile::tempdir().expect("dir");
    let keys: Arc<dyn KeyStore> =
        Arc::new(SoftwareStore::create(&dir.path().join("keys"), "http test").expect("keys"));
    let signer = Arc::new(KeyStoreApprovalSigner(Arc::clone(&keys)));
    let (s, gateway) = server_with(t.store.clone(), config, clock.clone(), Some(signer)).await;

    // Credentials: a second admin, two executives (the CEO may also pay), an operator.
    // The second administrator is a person of its own: a key made out of band, as
    // `fulgur apikey create` on the machine makes it (one the first admin minted would be
    // refused: issue 22).
    let second_admin = common::out_of_band_admin(&t.store).await;
    // The executives sign in with keys of their own (made out of band): keys the admin
    // minted over the API would answer to the admin, and the payments' initiator (ops,
    // minted by the admin) could not be approved by them.
    let approver = [access::Role::Approver];
    let (ceo_id, ceo) = common::out_of_band_key(
        &t.store,
        "CEO",
        &approver,
        &[access::ApiScope::PaymentsWrite],
    )
    .await;
    let (cto_id, cto) = common::out_of_band_key(&t.store, "CTO", &approver, &[]).await;
    let (custodian_id, custodian) =
        common::out_of_band_key(&t.store, "custodian", &approver, &[]).await;
    let (_, ops) = issue(&s, json!({"name": "ops", "roles": ["integration"]})).await;
    let (ceo_key, cto_key, custodian_key) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
        SigningKey::from_bytes(&[3; 32]),
    );
    let policy = json!({
        "approvers": [
            hsm(keys.as_ref(), "hsm-operations"),
            hsm(keys.as_ref(), "hsm-backup"),
            person("ceo", &ceo_id, &ceo_key),
            person("cto", &cto_id, &cto_key),
            person("custodian", &custodian_id, &custodian_key),
        ],
        "groups": {
            "operations-hsm": ["hsm-operations"],
            "backup-hsm": ["hsm-backup"],
            "executives": ["ceo", "cto"],
            "emergency": ["hsm-operations", "hsm-backup", "ceo", "cto", "custodian"]
        },
        "rules": [
            {"name": "emergency-recovery", "when": {"operation": "emergency_recovery"},
             "then": {"require": {"approvals": {"group": {"group": "emergency", "count": 4}},
                "expires_in_secs": 86400}}},
            {"name": "large-payment", "when": {"min_eur_cents": 1000000},
             "then": {"require": {"approvals": {"all": [
                {"group": {"group": "operations-hsm", "count": 1}},
                {"group": {"group": "backup-hsm", "count": 1}},
                {"group": {"group": "executives", "count": 1}}]}, "expires_in_secs": 86400}}},
            {"name": "payment", "when": {},
             "then": {"require": {"approvals": {"all": [
                {"group": {"group": "operations-hsm", "count": 1}},
                {"group": {"group": "executives", "count": 1}}]}, "expires_in_secs": 86400}}}
        ]
    });
    let (status, _) = s
        .call(
            "POST",
            "/v1/approval-policies",
            Some(json!({"policy": policy})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, active) = s
        .call_as(
            &second_admin,
            "POST",
            "/v1/approval-policies/1/approve",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{active}");

    // An account funded by carol.
    let (_, _) = s
        .call(
            "POST",
            "/v1/tenants",
            Some(json!({"id": "treasury", "name": "Treasury"})),
        )
        .await;
    let (_, account) = s
        .call(
            "POST",
            "/v1/accounts",
            Some(json!({"tenant_id": "treasury", "name": "operating"})),
        )
        .await;
    let account = account["id"].as_str().expect("account").to_string();
    let (_, invoice) = s
        .call(
            "POST",
            "/v1/invoices",
            Some(json!({"account_id": account, "amount_msat": 150_000_000u64, "description": "funding"})),
        )
        .await;
    let carol = s.lab.node("carol").expect("carol");
    carol
        .pay_invoice(invoice["bolt11"].as_str().expect("bolt11"), None, None)
        .await
        .expect("carol pays");
    // 75,000 EUR arriving at once is held for a compliance review (a large payment): the
    // officer releases it to the account.
    let invoice_id = invoice["id"].as_str().expect("invoice id").to_string();
    let mut released = false;
    for _ in 0..300 {
        let (_, a) = s
            .call("GET", &format!("/v1/accounts/{account}"), None)
            .await;
        if a["balance_msat"] == 150_000_000u64 {
            break;
        }
        let (_, alerts) = s
            .call(
                "GET",
                &format!("/v1/alerts?invoice_id={invoice_id}&state=open"),
                None,
            )
            .await;
        for alert in alerts["data"].as_array().into_iter().flatten() {
            assert_eq!(alert["direction"], "in", "{alert}");
            let path = format!("/v1/alerts/{}/decide", alert["id"].as_str().expect("id"));
            let body = json!({"decision": "release", "reason": "funding from our own treasury"});
            let (status, decided) = s.call("POST", &path, Some(body)).await;
            assert_eq!(status, StatusCode::OK, "{decided}");
            released = true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(released, "the funding was held for review, then released");

    let pay = |key: String, eur: u64| {
        let (s, carol, account) = (&s, carol.clone(), account.clone());
        async move {
            let invoice = carol
                .create_invoice(eur * EUR, "supplier", 259_200)
                .await
                .expect("carol invoice");
            let response = s
                .http
                .post(format!("{}/v1/payments", s.base))
                .bearer_auth(&key)
                .header("idempotency-key", format!("{eur}-{key}"))
                .json(&json!({"account_id": account, "bolt11": invoice.bolt11}))
                .send()
                .await
                .expect("request");
            let (status, accepted) = lab_server::read(response).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
            accepted
        }
    };
    let text_to_sign = |id: String, field: &'static str| {
        let s = &s;
        async move {
            let (status, request) = s.call("GET", &format!("/v1/approvals/{id}"), None).await;
            assert_eq!(status, StatusCode::OK, "{request}");
            request[field].as_str().expect("text").to_string()
        }
    };
    let vote = |key: String,
                id: String,
                decision: &'static str,
                approver: &'static str,
                signature: String| {
        let s = &s;
        async move {
            s.call_as(
                &key,
                "POST",
                &format!("/v1/approvals/{id}/{decision}"),
                Some(json!({"approver_id": approver, "signature": signature})),
            )
            .await
        }
    };
    let signed = |key: &SigningKey, text: &str| hex::encode(key.sign(text.as_bytes()).to_bytes());
    let final_status = |id: String| {
        let s = &s;
        async move {
            for _ in 0..300 {
                let (_, payment) = s.call("GET", &format!("/v1/payments/{id}"), None).await;
                let status = payment["status"].as_str().unwrap_or("").to_string();
                if ["succeeded", "failed", "rejected"].contains(&status.as_str()) {
                    return status;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("{id} never finished");
        }
    };

    // 5,000 EUR: in the queue with the text to sign; the CEO's signature sends it.
    let small = pay(ops.clone(), 5_000).await;
    assert_eq!(small["status"], "awaiting_approval");
    let small_id = small["id"].as_str().expect("id").to_string();
    let (_, queue) = s.call_as(&cto, "GET", "/v1/approvals", None).await;
    assert_eq!(queue["data"][0]["payment_id"], small_id.as_str(), "{queue}");
    assert_eq!(queue["data"][0]["rule"], "payment");
    assert_eq!(queue["data"][0]["eur_cents"], 500_000);
    let approve_text = text_to_sign(small_id.clone(), "approve_message").await;
    // The CTO signing with the CEO's key, the custodian: refused.
    let (status, problem) = vote(
        cto.clone(),
        small_id.clone(),
        "approve",
        "cto",
        signed(&ceo_key, &approve_text),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("approval_bad_signature")
        )
    );
    let (status, problem) = vote(
        custodian.clone(),
        small_id.clone(),
        "approve",
        "custodian",
        signed(&custodian_key, &approve_text),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("approval_not_an_approver"))
    );
    // The CEO's key with the CTO's credential: a vote is cast by its own approver only.
    let (status, _) = vote(
        cto.clone(),
        small_id.clone(),
        "approve",
        "ceo",
        signed(&ceo_key, &approve_text),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let ceo_vote = signed(&ceo_key, &approve_text);
    let (status, decided) = vote(
        ceo.clone(),
        small_id.clone(),
        "approve",
        "ceo",
        ceo_vote.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["state"], "approved");
    assert_eq!(final_status(small_id.clone()).await, "succeeded");
    // Replayed: refused, the request is closed.
    let (status, problem) = vote(ceo.clone(), small_id.clone(), "approve", "ceo", ceo_vote).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("approval_closed"))
    );

    // 20,000 EUR: one executive, then both HSM keys.
    let large = pay(ops.clone(), 20_000).await;
    let large_id = large["id"].as_str().expect("id").to_string();
    let text = text_to_sign(large_id.clone(), "approve_message").await;
    let (status, decided) = vote(
        cto.clone(),
        large_id.clone(),
        "approve",
        "cto",
        signed(&cto_key, &text),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    let mut voters: Vec<&str> = decided["votes"]
        .as_array()
        .expect("votes")
        .iter()
        .map(|v| v["approver_id"].as_str().expect("id"))
        .collect();
    voters.sort_unstable();
    assert_eq!(voters, ["cto", "hsm-backup", "hsm-operations"]);
    // Above 5,000 EUR it is also held for a compliance review: approved, it still waits
    // until an officer releases it.
    let (_, held) = s
        .call("GET", &format!("/v1/payments/{large_id}"), None)
        .await;
    assert_eq!(held["status"], "held_for_review", "{held}");
    let (_, officer) = issue(&s, json!({"name": "officer", "roles": ["compliance"]})).await;
    let (status, alerts) = s
        .call_as(
            &officer,
            "GET",
            &format!("/v1/alerts?payment_id={large_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{alerts}");
    let alert = &alerts["data"][0];
    assert_eq!(
        (
            &alert["rule"],
            &alert["decision"],
            &alert["state"],
            &alert["direction"]
        ),
        (
            &json!("large_payment"),
            &json!("review"),
            &json!("open"),
            &json!("out")
        )
    );
    assert_eq!(alert["eur_cents"], 2_000_000);
    let decide = format!("/v1/alerts/{}/decide", alert["id"].as_str().expect("id"));
    let (status, problem) = s
        .call_as(
            &ops,
            "POST",
            &decide,
            Some(json!({"decision": "release", "reason": "mine"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an operator may not: {problem}"
    );
    let (status, problem) = s
        .call_as(
            &officer,
            "POST",
            &decide,
            Some(json!({"decision": "maybe", "reason": "x"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field"))
    );
    let (status, released) = s
        .call_as(
            &officer,
            "POST",
            &decide,
            Some(json!({"decision": "release", "reason": "supplier contract on file"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["state"], "released");
    assert_eq!(final_status(large_id).await, "succeeded");
    let (status, problem) = s
        .call_as(
            &officer,
            "POST",
            &decide,
            Some(json!({"decision": "reject", "reason": "late"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("alert_decided"))
    );

    // The CEO's own payment: the CEO may not approve it; the CTO rejects it.
    let own = pay(ceo.clone(), 1_000).await;
    let own_id = own["id"].as_str().expect("id").to_string();
    let text = text_to_sign(own_id.clone(), "approve_message").await;
    let (status, problem) = vote(
        ceo.clone(),
        own_id.clone(),
        "approve",
        "ceo",
        signed(&ceo_key, &text),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("approval_self_approval"))
    );
    let text = text_to_sign(own_id.clone(), "reject_message").await;
    let (status, rejected) = vote(
        cto.clone(),
        own_id.clone(),
        "reject",
        "cto",
        signed(&cto_key, &text),
    )
    .await;
    assert_eq!(
        (status, rejected["state"].as_str()),
        (StatusCode::OK, Some("rejected"))
    );
    assert_eq!(final_status(own_id).await, "rejected");

    // Too late: the intent expired.
    let late = pay(ops.clone(), 2_000).await;
    let late_id = late["id"].as_str().expect("id").to_string();
    let text = text_to_sign(late_id.clone(), "approve_message").await;
    clock.advance_ms(86_400_000);
    let (status, problem) = vote(
        ceo.clone(),
        late_id.clone(),
        "approve",
        "ceo",
        signed(&ceo_key, &text),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("approval_expired"))
    );
    assert_eq!(gateway.expire_approvals().await.expect("sweep"), 1);
    assert_eq!(final_status(late_id).await, "rejected");
    let (_, account_now) = s
        .call("GET", &format!("/v1/accounts/{account}"), None)
        .await;
    assert_eq!(
        account_now["pending_msat"], 0,
        "no hold left: {account_now}"
    );

    // A daily limit of 1,500 EUR: a held 1,000 EUR payment counts, a second is refused.
    let (status, limits) = s
        .call(
            "PUT",
            &format!("/v1/accounts/{account}/limits"),
            Some(json!({"daily_eur_cents": 150_000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{limits}");
    assert_eq!(pay(ops.clone(), 1_000).await["status"], "awaiting_approval");
    let invoice = carol
        .create_invoice(1_000 * EUR, "over the limit", 259_200)
        .await
        .expect("carol invoice");
    let (status, problem) = s
        .call_as(
            &ops,
            "POST",
            "/v1/payments",
            Some(json!({"account_id": account, "bolt11": invoice.bolt11})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("velocity_limit_exceeded")
        ),
        "{problem}"
    );

    // Every attempt is in the audit trail: the votes that counted and those refused.
    let (_, trail) = s.call("GET", "/v1/audit?limit=1000", None).await;
    let votes: Vec<(&str, &str)> = trail["data"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["action"] == "approval.vote")
        .map(|r| {
            (
                r["outcome"].as_str().unwrap_or(""),
                r["details"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let successes = votes.iter().filter(|(o, _)| *o == "success").count();
    let refusals = votes.iter().filter(|(o, _)| *o != "success").count();
    assert_eq!(successes, 3, "{votes:?}");
    assert_eq!(refusals, 6, "{votes:?}");

    // An emergency recovery of alpha: bad input is a problem and records nothing; the
    // request waits for 4 of the 5 keys, shows approvers what they sign, and once two
    // people approve the HSM keys sign and alpha's channels start closing.
    let cold = carol.new_onchain_address().await.expect("address");
    for (body, status, code) in [
        (
            json!({"node": "alpha", "address": "bc1qnotregtest", "reason": "drill"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"node": "zeta", "address": cold, "reason": "drill"}),
            StatusCode::NOT_FOUND,
            "node_not_found",
        ),
        (
            json!({"node": "alpha", "address": cold}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ] {
        let (got, problem) = s.call("POST", "/v1/recoveries", Some(body)).await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (status, Some(code)),
            "{problem}"
        );
    }
    let (_, listed) = s.call("GET", "/v1/recoveries", None).await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(0), "{listed}");
    let (status, recovery) = s
        .call(
            "POST",
            "/v1/recoveries",
            Some(json!({"node": "alpha", "address": cold, "reason": "suspected compromise"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{recovery}");
    assert_eq!(recovery["state"], "awaiting_approval");
    let recovery_id = recovery["id"].as_str().expect("id").to_string();
    let approve_text = text_to_sign(recovery_id.clone(), "approve_message").await;
    assert!(
        approve_text.contains("operation=emergency_recovery\n"),
        "{approve_text}"
    );
    assert!(
        approve_text.contains("subject=node_sweep:alpha\n"),
        "{approve_text}"
    );
    assert!(
        approve_text.contains(&format!("destination={cold}\n")),
        "{approve_text}"
    );
    let (status, one) = vote(
        cto.clone(),
        recovery_id.clone(),
        "approve",
        "cto",
        signed(&cto_key, &approve_text),
    )
    .await;
    assert_eq!(
        (status, one["state"].as_str()),
        (StatusCode::OK, Some("pending"))
    );
    let (status, two) = vote(
        custodian.clone(),
        recovery_id.clone(),
        "approve",
        "custodian",
        signed(&custodian_key, &approve_text),
    )
    .await;
    assert_eq!(
        (status, two["state"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{two}"
    );
    assert_eq!(two["votes"].as_array().map(Vec::len), Some(4), "{two}");
    let (_, recovery) = s
        .call("GET", &format!("/v1/recoveries/{recovery_id}"), None)
        .await;
    assert!(
        ["closing", "sweeping"].contains(&recovery["state"].as_str().unwrap_or("")),
        "{recovery}"
    );
    let (status, again) = s
        .call(
            "POST",
            "/v1/recoveries",
            Some(json!({"node": "alpha", "address": cold, "reason": "again"})),
        )
        .await;
    assert_eq!(
        (status, again["code"].as_str()),
        (StatusCode::CONFLICT, Some("recovery_in_progress"))
    );
    s.shut_down().await;
}
