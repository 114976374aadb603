//! The dispatcher against a real HTTP receiver started by the test, on both stores:
//! signatures verify with the subscription's secret, each tenant gets only its events and
//! only the types it asked for, failures are retried with backoff until the budget runs
//! out, every attempt is logged, redelivery starts a fresh budget, a disabled subscription
//! gets nothing more.

use std::sync::Arc;
use std::time::Duration;

use kernel::{Actor, Scope, SequentialIds, SystemClock};
use serde_json::json;
use store::testing::TestStore;
use store::{Store, Value};
use webhooks::testing::Receiver;
use webhooks::{
    verify, DeliveryState, HttpTransport, NewSubscription, WebhookConfig, WebhookError, Webhooks,
};

store::on_both_stores!(deliveries_are_signed_retried_logged_and_redeliverable);

/// What the gateway does in the transaction of a state change.
async fn emit(store: &Store, id: &str, tenant: &str, event_type: &str) {
    let payload = json!({"id": id, "type": event_type, "data": {"amount_msat": 1000}}).to_string();
    let (id, tenant, event_type) = (id.to_string(), tenant.to_string(), event_type.to_string());
    store
        .write(move |sql| {
            sql.execute(
                "INSERT INTO outbox (id, tenant_id, event_type, payload, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    id.into(),
                    tenant.into(),
                    event_type.into(),
                    payload.into(),
                    Value::Int(now_ms()),
                ],
            )
        })
        .await
        .expect("emit");
}

fn now_ms() -> i64 {
    use kernel::Clock;
    SystemClock.now_ms()
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1_000 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

fn subscribe(tenant: &str, url: String, types: &[&str]) -> NewSubscription {
    NewSubscription {
        tenant_id: tenant.to_string(),
        url,
        event_types: types.iter().map(|t| t.to_string()).collect(),
    }
}

async fn deliveries_are_signed_retried_logged_and_redeliverable(t: TestStore) {
    let store = t.store.clone();
    for tenant in ["t1", "t2"] {
        store
            .write(move |sql| ledger::create_tenant(sql, tenant, tenant, 0))
            .await
            .expect("tenant");
    }
    let receiver = Receiver::start().await;
    let base = receiver.base.clone();
    let config = WebhookConfig {
        allow_http: true,
        // The test's receiver listens on loopback.
        allowed_private_networks: vec!["127.0.0.0/8".parse().expect("net")],
        initial_backoff_ms: 50,
        max_backoff_ms: 100,
        max_attempts: 3,
        poll_interval_ms: 10,
        request_timeout_ms: 2_000,
        ..WebhookConfig::default()
    };
    let vault = vault::testing::software_vault(&store).await.expect("vault");
    let webhooks = Webhooks::new(
        store.clone(),
        Arc::new(SystemClock),
        Arc::new(SequentialIds::default()),
        config.clone(),
        vault,
    );
    let admin = Scope::All;

    // Bad subscriptions leave nothing behind.
    let refused = webhooks
        .create_subscription(
            &as_actor(&admin),
            subscribe("t1", format!("{base}/x"), &["invoice.refunded"]),
        )
        .await;
    assert!(matches!(
        refused,
        Err(WebhookError::InvalidField {
            field: "event_types",
            ..
        })
    ));
    // Loopback is allowed for the receiver above, other private networks are not.
    let refused = webhooks
        .create_subscription(
            &as_actor(&admin),
            subscribe("t1", "https://10.0.0.1/x".to_string(), &["*"]),
        )
        .await;
    assert!(matches!(
        refused,
        Err(WebhookError::InvalidField { field: "url", .. })
    ));
    let refused = webhooks
        .create_subscription(
            &as_actor(&admin),
            subscribe("nobody", format!("{base}/x"), &["*"]),
        )
        .await;
    assert!(matches!(
        refused,
        Err(WebhookError::InvalidField {
            field: "tenant_id",
            ..
        })
    ));
    let refused = webhooks
        .create_subscription(
            &as_actor(&Scope::Tenant("t2".into())),
            subscribe("t1", format!("{base}/x"), &["*"]),
        )
        .await;
    assert!(matches!(
        refused,
        Err(WebhookError::InvalidField {
            field: "tenant_id",
            ..
        })
    ));
    assert!(webhooks
        .subscriptions(&admin, "t1", None, 100)
        .await
        .expect("list")
        .is_empty());

    let all = webhooks
        .create_subscription(
            &as_actor(&admin),
            subscribe("t1", format!("{base}/all"), &["*"]),
        )
        .await
        .expect("all");
    let flaky = webhooks
        .create_subscription(
            &as_actor(&admin),
            subscribe("t1", format!("{base}/flaky"), &["invoice.paid"]),
        )
        .await
        .expect("flaky");
    let down = webhooks
        .create_subscription(
            &as_actor(&admin),
            subscribe("t1", format!("{base}/down"), &["invoice.paid"]),
        )
        .await
        .expect("down");
    let other = webhooks
        .create_subscription(
            &as_actor(&admin),
            subscribe("t2", format!("{base}/other"), &["*"]),
        )
        .await
        .expect("other");
    assert!(all.secret.expose().starts_with("whsec_"));
    assert_ne!(all.secret, flaky.secret);
    assert!(
        !format!("{all:?}").contains(all.secret.expose()),
        "secret in Debug"
    );
    receiver.answer("flaky", &[503, 503, 200]);
    receiver.answer("down", &[500]);

    // Tenant isolation in reading.
    let t2 = Scope::Tenant("t2".into());
    assert!(matches!(
        webhooks.subscription(&t2, &all.subscription.id).await,
        Err(WebhookError::UnknownSubscription(_))
    ));
    assert!(webhooks
        .subscriptions(&t2, "t1", None, 100)
        .await
        .expect("list")
        .is_empty());
    assert_eq!(
        webhooks
            .subscriptions(&admin, "t1", None, 100)
            .await
            .expect("list")
            .len(),
        3
    );

    emit(&store, "evt_1", "t1", "invoice.created").await;
    emit(&store, "evt_2", "t1", "invoice.paid").await;
    emit(&store, "evt_3", "t2", "invoice.paid").await;
    let dispatcher =
        webhooks.spawn_dispatcher(Arc::new(HttpTransport::new(&config).expect("transport")));

    let settled = |id: String| {
        let webhooks = webhooks.clone();
        async move {
            let log = webhooks
                .deliveries(&Scope::All, &id, None, None, 100)
                .await
                .expect("deliveries");
            !log.is_empty() && log.iter().all(|d| d.state != DeliveryState::Pending)
        }
    };
    eventually("a settled delivery for every subscription", || {
        let ids = [&all, &flaky, &down, &other].map(|s| s.subscription.id.clone());
        let settled = &settled;
        async move {
            for id in ids {
                if !settled(id).await {
                    return false;
                }
            }
            true
        }
    })
    .await;

    // What each receiver got: only its tenant's events of the types it asked for, signed.
    let events = |path: &str| -> Vec<String> {
        receiver
            .got(path)
            .iter()
            .map(|r| r.header("fulgur-event-id"))
            .collect()
    };
    let mut all_events = events("all");
    all_events.sort();
    assert_eq!(all_events, ["evt_1", "evt_2"]);
    assert_eq!(events("flaky"), ["evt_2", "evt_2", "evt_2"]);
    assert_eq!(
        events("down"),
        ["evt_2", "evt_2", "evt_2"],
        "three attempts, then failed"
    );
    assert_eq!(events("other"), ["evt_3"]);
    for (path, secret) in [
        ("all", &all.secret),
        ("flaky", &flaky.secret),
        ("other", &other.secret),
    ] {
        for r in receiver.got(path) {
            let header = r.header("fulgur-signature");
            let now_secs = now_ms() / 1_000;
            assert_eq!(
                verify(secret.expose(), &header, &r.body, now_secs, 300),
                Ok(())
            );
            assert_eq!(
                verify(all.secret.expose(), &header, &r.body, now_secs, 300).is_ok(),
                path == "all",
                "another subscription's secret must not verify"
            );
            let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
            assert_eq!(body["id"], r.header("fulgur-event-id"));
            assert_eq!(body["type"], r.header("fulgur-event-type"));
            assert_eq!(r.header("content-type"), "application/json");
        }
    }
    let attempts: Vec<String> = receiver
        .got("flaky")
        .iter()
        .map(|r| r.header("fulgur-delivery-attempt"))
        .collect();
    assert_eq!(attempts, ["1", "2", "3"]);

    // The delivery log: states, attempt counts, every attempt with its answer, backoff.
    let flaky_log = webhooks
        .deliveries(&admin, &flaky.subscription.id, None, None, 100)
        .await
        .expect("log");
    assert_eq!(flaky_log.len(), 1);
    assert_eq!(flaky_log[0].state, DeliveryState::Delivered);
    assert_eq!(flaky_log[0].attempts, 3);
    assert_eq!(flaky_log[0].last_status_code, Some(200));
    let detail = webhooks
        .delivery(&admin, &flaky.subscription.id, &flaky_log[0].id)
        .await
        .expect("detail");
    let codes: Vec<Option<u16>> = detail.attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(503), Some(503), Some(200)]);
    let gaps: Vec<i64> = detail
        .attempts
        .windows(2)
        .map(|w| w[1].started_at_ms - w[0].started_at_ms)
        .collect();
    assert!(
        gaps[0] >= 50 && gaps[1] >= 100,
        "backoff 50 ms then 100 ms: {gaps:?}"
    );
    let down_log = webhooks
        .deliveries(
            &admin,
            &down.subscription.id,
            Some(DeliveryState::Failed),
            None,
            100,
        )
        .await
        .expect("log");
    assert_eq!(down_log.len(), 1);
    assert_eq!(down_log[0].attempts, 3);
    assert_eq!(down_log[0].last_status_code, Some(500));
    assert_eq!(
        down_log[0].last_error.as_deref(),
        Some("receiver answered 500")
    );
    assert!(matches!(
        webhooks
            .delivery(&t2, &down.subscription.id, &down_log[0].id)
            .await,
        Err(WebhookError::UnknownSubscription(_))
    ));

    // Redelivery: a fresh budget, the log keeps growing.
    receiver.answer("down", &[200]);
    let again = webhooks
        .redeliver(&as_actor(&admin), &down.subscription.id, &down_log[0].id)
        .await
        .expect("redeliver");
    assert_eq!(again.state, DeliveryState::Pending);
    eventually("the redelivery", || {
        let webhooks = webhooks.clone();
        let (sub, id) = (down.subscription.id.clone(), down_log[0].id.clone());
        async move {
            let d = webhooks
                .delivery(&Scope::All, &sub, &id)
                .await
                .expect("detail");
            d.delivery.state == DeliveryState::Delivered
        }
    })
    .await;
    let detail = webhooks
        .delivery(&admin, &down.subscription.id, &down_log[0].id)
        .await
        .expect("detail");
    assert_eq!(detail.delivery.attempts, 4);
    assert_eq!(detail.attempts.len(), 4);
    assert_eq!(detail.attempts[3].status_code, Some(200));
    assert!(matches!(
        webhooks
            .redeliver(&as_actor(&admin), &down.subscription.id, "whd_nope")
            .await,
        Err(WebhookError::UnknownDelivery(_))
    ));

    // Disabled: nothing more, and it cannot be redelivered to; a subscription created
    // after an event does not get it.
    let disabled = webhooks
        .disable_subscription(&as_actor(&admin), &all.subscription.id)
        .await
        .expect("disable");
    assert!(!disabled.enabled);
    assert!(matches!(
        webhooks
            .redeliver(&as_actor(&admin), &all.subscription.id, &flaky_log[0].id)
            .await,
        Err(WebhookError::InvalidField { .. }) | Err(WebhookError::UnknownDelivery(_))
    ));
    // Secret rotation: the old secret signs too during the overlap.
    let rotated = webhooks
        .rotate_secret(&as_actor(&admin), &flaky.subscription.id, Some(3_600))
        .await
        .expect("rotate");
    assert_ne!(rotated.secret, flaky.secret);
    assert!(matches!(
        webhooks
            .rotate_secret(&as_actor(&t2), &flaky.subscription.id, None)
            .await,
        Err(WebhookError::UnknownSubscription(_))
    ));
    assert!(matches!(
        webhooks
            .rotate_secret(&as_actor(&admin), &flaky.subscription.id, Some(8 * 86_400))
            .await,
        Err(WebhookError::InvalidField {
            field: "overlap_secs",
            ..
        })
    ));
    emit(&store, "evt_4", "t1", "invoice.paid").await;
    webhooks
        .create_subscription(
            &as_actor(&admin),
            subscribe("t1", format!("{base}/late"), &["*"]),
        )
        .await
        .expect("late");
    emit(&store, "evt_5", "t1", "invoice.expired").await;
    eventually("evt_5 at the late subscriber", || {
        let got = receiver.got("late").len();
        async move { got >= 1 }
    })
    .await;
    eventually("evt_4 at the flaky subscriber", || {
        let got = receiver.got("flaky").len();
        async move { got >= 4 }
    })
    .await;
    let verifies = |secret: &webhooks::WebhookSecret, r: &webhooks::testing::Received| {
        let header = r.header("fulgur-signature");
        verify(secret.expose(), &header, &r.body, now_ms() / 1_000, 300).is_ok()
    };
    let evt_4 = receiver.got("flaky").pop().expect("evt_4");
    assert!(verifies(&rotated.secret, &evt_4) && verifies(&flaky.secret, &evt_4));
    // A rotation without overlap: only the newest secret signs.
    let newest = webhooks
        .rotate_secret(&as_actor(&admin), &flaky.subscription.id, Some(0))
        .await
        .expect("rotate");
    emit(&store, "evt_6", "t1", "invoice.paid").await;
    eventually("evt_6 at the flaky subscriber", || {
        let got = receiver.got("flaky").len();
        async move { got >= 5 }
    })
    .await;
    let evt_6 = receiver.got("flaky").pop().expect("evt_6");
    assert!(verifies(&newest.secret, &evt_6));
    assert!(!verifies(&rotated.secret, &evt_6) && !verifies(&flaky.secret, &evt_6));
    dispatcher.stop().await;
    assert_eq!(events("late"), ["evt_5", "evt_6"], "subscribed after evt_4");
    assert_eq!(events("all").len(), 2, "disabled: no evt_4 or evt_5");
    assert_eq!(
        events("flaky"),
        ["evt_2", "evt_2", "evt_2", "evt_4", "evt_6"]
    );
    drop(t);
}

/// The caller of a mutating operation, acting within `scope`.
fn as_actor(scope: &Scope) -> Actor {
    Actor {
        scope: scope.clone(),
        origin: audit::Origin::system("req-test"),
        identity: "test".into(),
    }
}
