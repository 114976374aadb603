//! Webhook signing secrets live in the vault, on both stores: a subscription row names its
//! secret and holds none; a rotation's retired secret is destroyed at the next rotation;
//! rows from before the vault are sealed at start and their deliveries still verify with
//! the secrets the receiver already has.

use std::sync::Arc;
use std::time::Duration;

use kernel::{Actor, Clock, SequentialIds, SystemClock};
use store::testing::TestStore;
use store::Value;
use webhooks::testing::Receiver;
use webhooks::{verify, HttpTransport, NewSubscription, WebhookConfig, Webhooks};

store::on_both_stores!(secrets_are_sealed_in_the_vault_and_old_clear_ones_are_sealed_at_start);

async fn columns(
    t: &TestStore,
    id: &str,
) -> (String, Option<String>, Option<String>, Option<String>) {
    let id = id.to_string();
    t.store
        .read(move |sql| {
            let row = sql.query_one(
                "SELECT secret, previous_secret, secret_name, previous_secret_name \
                 FROM webhook_subscriptions WHERE id = $1",
                &[id.into()],
            )?;
            Ok::<_, store::StoreError>((
                row.text(0)?.to_string(),
                row.opt_text(1)?.map(str::to_string),
                row.opt_text(2)?.map(str::to_string),
                row.opt_text(3)?.map(str::to_string),
            ))
        })
        .await
        .expect("row")
}

async fn secrets_are_sealed_in_the_vault_and_old_clear_ones_are_sealed_at_start(t: TestStore) {
    let vault = vault::testing::software_vault(&t.store)
        .await
        .expect("vault");
    let receiver = Receiver::start().await;
    let config = WebhookConfig {
        allow_http: true,
        // The test's receiver listens on loopback.
        allowed_private_networks: vec!["127.0.0.0/8".parse().expect("net")],
        poll_interval_ms: 10,
        ..WebhookConfig::default()
    };
    let webhooks = Webhooks::new(
        t.store.clone(),
        Arc::new(SystemClock),
        Arc::new(SequentialIds::default()),
        config.clone(),
        vault.clone(),
    );
    t.store
        .write(|sql| ledger::create_tenant(sql, "t1", "t1", 0))
        .await
        .expect("tenant");
    let admin = Actor::system("test");
    let created = webhooks
        .create_subscription(
            &admin,
            NewSubscription {
                tenant_id: "t1".into(),
                url: format!("{}/new", receiver.base),
                event_types: vec!["*".into()],
            },
        )
        .await
        .expect("subscribe");
    let id = created.subscription.id.clone();
    let (clear, previous, name, _) = columns(&t, &id).await;
    assert_eq!(
        (clear.as_str(), previous),
        ("", None),
        "no secret in the row"
    );
    let first_name = name.expect("named");
    let sealed = vault
        .secret(&first_name)
        .await
        .expect("read")
        .expect("sealed");
    assert_eq!(sealed.as_slice(), created.secret.expose().as_bytes());

    // Two rotations: the first secret signs through the first overlap, then is destroyed.
    webhooks
        .rotate_secret(&admin, &id, Some(3_600))
        .await
        .expect("rotate");
    let (_, _, second_name, previous_name) = columns(&t, &id).await;
    assert_eq!(previous_name.as_deref(), Some(first_name.as_str()));
    let third = webhooks
        .rotate_secret(&admin, &id, Some(3_600))
        .await
        .expect("rotate again");
    let (_, _, _, previous_name) = columns(&t, &id).await;
    assert_eq!(previous_name, second_name);
    assert!(
        vault.secret(&first_name).await.expect("read").is_none(),
        "a retired secret is destroyed"
    );

    // A row from before the vault: its secrets in clear, the previous one still valid.
    let expires = SystemClock.now_ms() + 3_600_000;
    let url = format!("{}/legacy", receiver.base);
    t.store
        .write(move |sql| {
            sql.execute(
                "INSERT INTO webhook_subscriptions (id, tenant_id, url, secret, event_types, \
                 enabled, created_at_ms, starts_after_seq, previous_secret, \
                 previous_secret_expires_at_ms) \
                 VALUES ('whk_legacy', 't1', $1, 'whsec_legacy', '*', 1, 0, 0, 'whsec_old', $2)",
                &[url.into(), Value::Int(expires)],
            )
        })
        .await
        .expect("legacy row");
    let origin = audit::Origin::system("start");
    assert_eq!(webhooks.seal_clear_secrets(&origin).await.expect("seal"), 1);
    assert_eq!(
        webhooks.seal_clear_secrets(&origin).await.expect("again"),
        0
    );
    let (clear, previous, name, previous_name) = columns(&t, "whk_legacy").await;
    assert_eq!((clear.as_str(), previous), ("", None));
    let read = |name: Option<String>| {
        let vault = vault.clone();
        async move {
            vault
                .secret(&name.expect("named"))
                .await
                .expect("read")
                .expect("sealed")
        }
    };
    assert_eq!(read(name).await.as_slice(), b"whsec_legacy");
    assert_eq!(read(previous_name).await.as_slice(), b"whsec_old");

    // Its deliveries are signed with both, as before.
    t.store
        .write(|sql| {
            sql.execute(
                "INSERT INTO outbox (id, tenant_id, event_type, payload, created_at_ms) \
                 VALUES ('evt_1', 't1', 'invoice.paid', '{\"id\":\"evt_1\"}', 0)",
                &[],
            )
        })
        .await
        .expect("event");
    let dispatcher =
        webhooks.spawn_dispatcher(Arc::new(HttpTransport::new(&config).expect("transport")));
    for _ in 0..500 {
        if !receiver.got("legacy").is_empty() && !receiver.got("new").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    dispatcher.stop().await;
    let now_secs = SystemClock.now_ms() / 1_000;
    let legacy = receiver.got("legacy");
    let request = legacy
        .first()
        .expect("the legacy subscription got the event");
    let header = request.header(webhooks::SIGNATURE_HEADER);
    for secret in ["whsec_legacy", "whsec_old"] {
        assert!(
            verify(secret, &header, &request.body, now_secs, 300).is_ok(),
            "{secret}"
        );
    }
    let new = receiver.got("new");
    let request = new.first().expect("the new subscription got the event");
    assert!(
        verify(
            created.secret.expose(),
            &request.header(webhooks::SIGNATURE_HEADER),
            &request.body,
            now_secs,
            300
        )
        .is_err(),
        "rotated out twice: no longer signs"
    );
    assert!(verify(
        third.secret.expose(),
        &request.header(webhooks::SIGNATURE_HEADER),
        &request.body,
        now_secs,
        300
    )
    .is_ok());
}
