//! Sanctions screening over real HTTPS against the real OFAC snapshot, on both stores:
//! names screened in a batch with their hits and explanations, the list versions, the
//! watchlist; tenant credentials and other roles refused; hostile batches (too many,
//! too long, out-of-range qualifiers, oversized bodies) answered with problems.

use std::sync::Arc;

use compliance::{ListFile, ListFormat, NewList};
use kernel::{Actor, SystemClock};
use reqwest::StatusCode;
use serde_json::{json, Value};
use store::testing::TestStore;

mod common;
mod guarded;

use guarded::{server, Server};

store::on_both_stores!(
    compliance_officers_screen_names_lists_and_watchlist_over_http,
    customers_are_screened_and_assessed_over_http
);

async fn load_ofac(store: &store::Store) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sanctions");
    let files = [
        ("sdn.csv", "ofac-sdn-2024-05-03.csv"),
        ("alt.csv", "ofac-alt.csv"),
        ("add.csv", "ofac-add.csv"),
        ("xbt.txt", "ofac-xbt-addresses-2024-09-27.txt"),
    ]
    .into_iter()
    .map(|(name, file)| ListFile {
        name: name.to_string(),
        bytes: std::fs::read(dir.join(file)).expect("the snapshot is in the repository"),
    })
    .collect();
    let clock: Arc<dyn kernel::Clock> = Arc::new(SystemClock);
    compliance::lists::import(
        store,
        &clock,
        &Actor::system("test"),
        NewList {
            format: ListFormat::OfacCsv,
            list: "ofac-sdn".into(),
            source: "data/sanctions".into(),
            list_date: Some("2024-05-03".into()),
            files,
        },
    )
    .await
    .expect("the snapshot loads");
}

async fn names(s: &Server, key: &str, body: Value) -> (StatusCode, Value) {
    s.call(key, "POST", "/v1/screening/names", Some(body)).await
}

fn refused(answer: &Value, mentions: &str) {
    assert_eq!(answer["code"], "invalid_field", "{answer}");
    let detail = answer["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(mentions),
        "{detail:?} should name {mentions:?}"
    );
}

const KEY: &str = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";

async fn compliance_officers_screen_names_lists_and_watchlist_over_http(t: TestStore) {
    load_ofac(&t.store).await;
    let s = server(t.store.clone(), api::RateLimitConfig::default()).await;
    let (officer_id, officer) = s
        .issue(json!({"name": "officer", "roles": ["compliance"]}))
        .await;
    let (_, operator) = s
        .issue(json!({"name": "operator", "roles": ["operator"]}))
        .await;
    s.tenant("acme").await;
    let (_, tenant_compliance) = s
        .issue(json!({"tenant_id": "acme", "name": "tenant officer", "roles": ["compliance"]}))
        .await;

    // A batch: a listed person out of order, a listed person with qualifiers, nobody.
    let (status, answer) = names(
        &s,
        &officer,
        json!({"names": [
            {"name": "Xiaobing Yan", "kind": "person"},
            {"name": "Bashar al-Assad", "kind": "person", "country": "SY", "birth_year": 1965},
            {"name": "Wilhelmina Zuckerbrot"}
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["name"], "Xiaobing Yan");
    let yan = &results[0]["hits"][0];
    assert_eq!(
        (&yan["list"], &yan["entry_id"], &yan["list_version"]),
        (&json!("ofac-sdn"), &json!("25308"), &json!(1))
    );
    assert_eq!(yan["matched_name"], "YAN, Xiaobing");
    assert!(yan["score"].as_f64().expect("score") >= 0.8);
    assert!(!yan["explanation"].as_str().expect("explanation").is_empty());
    let assad = &results[1]["hits"][0];
    assert!(
        assad["matched_name"]
            .as_str()
            .is_some_and(|n| n.to_uppercase().contains("ASSAD")),
        "{assad}"
    );
    assert!(
        assad["explanation"]
            .as_str()
            .is_some_and(|e| e.contains("country matches")),
        "{assad}"
    );
    assert_eq!(results[2]["hits"], json!([]));

    // A thousand names of a hundred characters: more than the API's usual 64 KiB body.
    let long_name = format!("{} Zuckerbrot", "Wilhelmina ".repeat(8));
    let batch: Vec<Value> = (0..1_000).map(|_| json!({"name": long_name})).collect();
    let (status, answer) = names(&s, &officer, json!({ "names": batch })).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["results"].as_array().map(Vec::len), Some(1_000));

    // Hostile batches.
    let too_many: Vec<Value> = (0..1_001)
        .map(|i| json!({"name": format!("n{i}")}))
        .collect();
    let (status, answer) = names(&s, &officer, json!({ "names": too_many })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    refused(&answer, "1000");
    let (status, answer) = names(&s, &officer, json!({"names": []})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    refused(&answer, "names");
    for (bad, field) in [
        (json!({"name": "x".repeat(301)}), "names[0].name"),
        (json!({"name": "   "}), "names[0].name"),
        (json!({"name": "A", "kind": "alien"}), "names[0].kind"),
        (
            json!({"name": "A", "birth_year": 99_999_999_999_i64}),
            "names[0].birth_year",
        ),
        (
            json!({"name": "A", "birth_year": -5}),
            "names[0].birth_year",
        ),
        (json!({"name": "A", "country": ""}), "names[0].country"),
    ] {
        let (status, answer) = names(&s, &officer, json!({ "names": [bad] })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        refused(&answer, field);
    }
    let (status, answer) = names(
        &s,
        &officer,
        json!({"names": [{"name": "A"}], "threshold": 0.1}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    refused(&answer, "threshold");
    let (status, answer) = names(&s, &officer, json!({"names": [{"name": "A", "ssn": "1"}]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let huge = "x".repeat(1024 * 1024 + 1);
    let (status, answer) = names(&s, &officer, json!({"names": [{"name": huge}]})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["code"], "body_too_large");

    // Who may not: a tenant's compliance officer (tipping-off), an operator.
    let one = json!({"names": [{"name": "Xiaobing Yan"}]});
    let (status, answer) = names(&s, &tenant_compliance, one.clone()).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("platform_only"))
    );
    let (status, answer) = names(&s, &operator, one).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );

    // The versions loaded, with the refused Tron address reported.
    let (status, lists) = s.call(&officer, "GET", "/v1/screening/lists", None).await;
    assert_eq!(status, StatusCode::OK, "{lists}");
    let v = &lists["data"][0];
    assert_eq!(
        (&v["version"], &v["list"], &v["entries"], &v["in_force"]),
        (&json!(1), &json!("ofac-sdn"), &json!(14_965), &json!(true))
    );
    assert!(v["refused"]
        .as_array()
        .expect("refused")
        .iter()
        .any(|r| r["file"] == "xbt.txt" && r["line"] == 355));

    // The watchlist: checked values, no duplicates, in force at once, audited.
    let watch =
        |kind: &str, value: &str| json!({"kind": kind, "value": value, "reason": "fraud ring"});
    let (status, item) = s
        .call(
            &officer,
            "POST",
            "/v1/screening/watchlist",
            Some(watch("node_pubkey", &KEY.to_uppercase())),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    assert_eq!(item["value"], KEY);
    assert_eq!(item["created_by"], officer_id.as_str());
    let (status, answer) = s
        .call(
            &officer,
            "POST",
            "/v1/screening/watchlist",
            Some(watch("node_pubkey", KEY)),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_watched"))
    );
    for bad in [
        watch("node_pubkey", "02abcdef"),
        // The gateway runs on regtest: a mainnet address cannot be paid from it.
        watch("address", "12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h"),
        watch("iban", "DE89370400440532013000"),
        json!({"kind": "name", "value": "Mallory", "reason": ""}),
    ] {
        let (status, answer) = s
            .call(
                &officer,
                "POST",
                "/v1/screening/watchlist",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad} -> {answer}"
        );
        assert_eq!(answer["code"], "invalid_field");
    }
    let (status, _) = s
        .call(
            &officer,
            "POST",
            "/v1/screening/watchlist",
            Some(watch("name", "Mallory Evilcorp")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, answer) = names(
        &s,
        &officer,
        json!({"names": [{"name": "EVILCORP, Mallory"}]}),
    )
    .await;
    assert_eq!(
        answer["results"][0]["hits"][0]["list"], "internal",
        "{answer}"
    );
    let (_, items) = s
        .call(&officer, "GET", "/v1/screening/watchlist", None)
        .await;
    assert_eq!(items["data"].as_array().map(Vec::len), Some(2));
    let id = item["id"].as_str().expect("id");
    let path = format!("/v1/screening/watchlist/{id}");
    let (status, _) = s.call(&officer, "DELETE", &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, answer) = s.call(&officer, "DELETE", &path, None).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("watch_item_not_found"))
    );
    let (status, answer) = s
        .call(
            &tenant_compliance,
            "POST",
            "/v1/screening/watchlist",
            Some(watch("name", "X")),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("platform_only"))
    );

    let (_, audit) = s.call(&s.admin, "GET", "/v1/audit?limit=500", None).await;
    let actions: Vec<(&str, &str)> = audit["data"]
        .as_array()
        .expect("audit")
        .iter()
        .filter_map(|r| Some((r["action"].as_str()?, r["actor_id"].as_str()?)))
        .collect();
    for action in ["watchlist.add", "watchlist.remove"] {
        assert!(
            actions.contains(&(action, officer_id.as_str())),
            "{action} by the officer in {actions:?}"
        );
    }
    s.shut_down().await;
}

async fn customers_are_screened_and_assessed_over_http(t: TestStore) {
    load_ofac(&t.store).await;
    let s = server(t.store.clone(), api::RateLimitConfig::default()).await;
    let (_, officer) = s
        .issue(json!({"name": "officer", "roles": ["compliance"]}))
        .await;
    s.tenant("acme").await;
    s.tenant("globex").await;
    let (_, tenant_admin) = s
        .issue(json!({"tenant_id": "acme", "name": "acme admin", "roles": ["admin"]}))
        .await;
    let customer = |name: &str, country: &str, business: &str, funds: &str| {
        json!({"tenant_id": "acme", "name": name, "kind": "person", "country": country,
            "business_type": business, "expected_monthly_eur_cents": 500_000,
            "source_of_funds": funds})
    };
    let create = |body: Value| s.call(&officer, "POST", "/v1/customers", Some(body));

    // A clean German salaried person: low risk, the low profile, KYC pending.
    let (status, clean) = create(customer(
        "Erika Mustermann",
        "Germany",
        "individual",
        "salary",
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{clean}");
    assert_eq!(
        (
            &clean["risk_level"],
            &clean["kyc_status"],
            &clean["country"]
        ),
        (&json!("low"), &json!("pending"), &json!("DE"))
    );
    assert_eq!(clean["limits"]["daily_eur_cents"], 5_000_000);
    assert_eq!(clean["review_frequency"], "annual");
    assert_eq!(clean["screening"]["hits"], json!([]));
    // A listed name: the hit is kept and the level is high, with enhanced monitoring.
    let (status, listed) = create(customer("Xiaobing Yan", "CN", "individual", "salary")).await;
    assert_eq!(status, StatusCode::CREATED, "{listed}");
    assert_eq!(listed["screening"]["hits"][0]["entry_id"], "25308");
    assert_eq!(
        (
            &listed["risk_level"],
            &listed["enhanced_monitoring"],
            &listed["review_frequency"]
        ),
        (&json!("high"), &json!(true), &json!("monthly"))
    );
    // A grey-listed country and crypto trading: high from the table alone.
    let (_, grey) = create(customer("Ade Okafor", "NG", "individual", "crypto_trading")).await;
    assert_eq!(grey["risk_level"], "high", "{grey}");
    assert!(
        grey["risk_factors"]
            .as_array()
            .is_some_and(|f| f.len() == 3),
        "{grey}"
    );

    // Hostile facts.
    for (body, field) in [
        (customer("A", "DE", "pirate", "salary"), "business_type"),
        (customer("A", "DE", "individual", "loot"), "source_of_funds"),
        (customer("A", "Atlantis", "individual", "salary"), "country"),
        (customer(" ", "DE", "individual", "salary"), "name"),
        (
            customer("A", "DE", "individual", "salary"),
            "expected_monthly_eur_cents",
        ),
    ] {
        let mut body = body;
        if field == "expected_monthly_eur_cents" {
            body[field] = json!(u64::MAX);
        }
        let (status, answer) = create(body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {answer}"
        );
        refused(&answer, field);
    }
    let mut unknown_tenant = customer("A", "DE", "individual", "salary");
    unknown_tenant["tenant_id"] = json!("nobody");
    let (status, answer) = create(unknown_tenant).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    refused(&answer, "tenant_id");
    let (status, answer) = s
        .call(
            &tenant_admin,
            "POST",
            "/v1/customers",
            Some(customer("A", "DE", "individual", "salary")),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("platform_only"))
    );

    // Changes: KYC verified; an override needs a reason; unknown customers are 404.
    let id = clean["id"].as_str().expect("id");
    let path = format!("/v1/customers/{id}");
    let (status, verified) = s
        .call(
            &officer,
            "PATCH",
            &path,
            Some(json!({"kyc_status": "verified"})),
        )
        .await;
    assert_eq!(
        (status, &verified["kyc_status"]),
        (StatusCode::OK, &json!("verified"))
    );
    let (status, answer) = s
        .call(
            &officer,
            "PATCH",
            &path,
            Some(json!({"risk_level": "high"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    refused(&answer, "reason");
    let (status, high) = s
        .call(
            &officer,
            "PATCH",
            &path,
            Some(json!({"risk_level": "high", "reason": "adverse media"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{high}");
    assert_eq!(
        (
            &high["risk_level"],
            &high["risk_override_reason"],
            &high["limits"]["daily_eur_cents"]
        ),
        (&json!("high"), &json!("adverse media"), &json!(1_000_000))
    );
    let (status, fetched) = s.call(&officer, "GET", &path, None).await;
    assert_eq!(
        (status, &fetched["risk_level"]),
        (StatusCode::OK, &json!("high"))
    );
    let (status, answer) = s
        .call(&officer, "GET", "/v1/customers/cus_nope", None)
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("customer_not_found"))
    );
    let (_, page) = s
        .call(&officer, "GET", "/v1/customers?tenant_id=acme", None)
        .await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(3));

    // Accounts link to a customer of their own tenant only, atomically.
    let (status, account) = s
        .call(
            &s.admin,
            "POST",
            "/v1/accounts",
            Some(json!({"tenant_id": "acme", "name": "ops", "customer_id": id})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    let (status, answer) = s
        .call(
            &s.admin,
            "POST",
            "/v1/accounts",
            Some(json!({"tenant_id": "globex", "name": "ops", "customer_id": id})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    refused(&answer, "customer_id");
    let (_, globex) = s
        .call(&s.admin, "GET", "/v1/accounts?tenant_id=globex", None)
        .await;
    assert_eq!(
        globex["data"],
        json!([]),
        "the refused account is not left behind"
    );
    s.shut_down().await;
}
