//! Claims, on both stores: two dispatchers sharing one store send each event once; a
//! dispatcher that dies mid-request (its claim never recorded) loses nothing — another
//! sends the delivery once the claim's lease runs out.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use kernel::{Clock, ManualClock, Scope, SequentialIds, SystemClock};
use store::testing::TestStore;
use store::Value;
use webhooks::testing::Receiver;
use webhooks::{HttpTransport, NewSubscription, Outgoing, Transport, WebhookConfig, Webhooks};

store::on_both_stores!(
    two_dispatchers_send_each_event_once,
    a_claim_whose_sender_died_is_sent_again_after_its_lease
);

fn config() -> WebhookConfig {
    WebhookConfig {
        allow_http: true,
        // The test's receiver listens on loopback.
        allowed_private_networks: vec!["127.0.0.0/8".parse().expect("net")],
        poll_interval_ms: 5,
        request_timeout_ms: 2_000,
        ..WebhookConfig::default()
    }
}

/// A tenant subscribed to everything at `{receiver}/{path}`, and `events` outbox events.
async fn setup(
    t: &TestStore,
    config: &WebhookConfig,
    receiver: &Receiver,
    events: usize,
    vault: &vault::Vault,
) -> Webhooks {
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
    webhooks
        .create_subscription(
            &kernel::Actor::system("test"),
            NewSubscription {
                tenant_id: "t1".into(),
                url: format!("{}/hook", receiver.base),
                event_types: vec!["*".into()],
            },
        )
        .await
        .expect("subscribe");
    t.store
        .write(move |sql| {
            for i in 0..events {
                sql.execute(
                    "INSERT INTO outbox (id, tenant_id, event_type, payload, created_at_ms) \
                     VALUES ($1, 't1', 'invoice.paid', $2, $3)",
                    &[
                        format!("evt_{i:04}").into(),
                        format!("{{\"id\":\"evt_{i:04}\"}}").into(),
                        Value::Int(SystemClock.now_ms()),
                    ],
                )?;
            }
            Ok::<_, store::StoreError>(())
        })
        .await
        .expect("events");
    webhooks
}

async fn wait_for(receiver: &Receiver, count: usize) {
    for _ in 0..1_500 {
        if receiver.got("hook").len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} of {count} requests arrived", receiver.got("hook").len());
}

fn http(webhooks: &Webhooks) -> Arc<dyn Transport> {
    Arc::new(HttpTransport::new(webhooks.config()).expect("transport"))
}

async fn two_dispatchers_send_each_event_once(t: TestStore) {
    const EVENTS: usize = 200;
    let receiver = Receiver::start().await;
    let config = config();
    let vault = vault::testing::software_vault(&t.store)
        .await
        .expect("vault");
    let one = setup(&t, &config, &receiver, EVENTS, &vault).await;
    // Another replica: its own handle on the same database (its own writer, so claims
    // that did not lock would both win), the same key store, so the same vault.
    let two = Webhooks::new(
        t.second_handle().await.expect("second handle"),
        Arc::new(SystemClock),
        Arc::new(SequentialIds::default()),
        config,
        vault,
    );
    let (a, b) = (
        one.spawn_dispatcher(http(&one)),
        two.spawn_dispatcher(http(&two)),
    );
    wait_for(&receiver, EVENTS).await;
    // Both stopped (each finishes what it claimed): a duplicate would have been sent by now.
    a.stop().await;
    b.stop().await;
    let got = receiver.got("hook");
    let distinct: HashSet<String> = got.iter().map(|r| r.header("fulgur-event-id")).collect();
    assert_eq!(distinct.len(), EVENTS);
    assert_eq!(got.len(), EVENTS, "no event sent twice");
}

/// Takes the request and never answers, like a process that died mid-request.
struct Dies;

#[async_trait::async_trait]
impl Transport for Dies {
    async fn post(&self, _: Outgoing) -> Result<u16, String> {
        std::future::pending().await
    }
}

async fn a_claim_whose_sender_died_is_sent_again_after_its_lease(t: TestStore) {
    let receiver = Receiver::start().await;
    let config = WebhookConfig {
        request_timeout_ms: 500,
        lease_margin_ms: 500,
        ..config()
    };
    let vault = vault::testing::software_vault(&t.store)
        .await
        .expect("vault");
    let webhooks = setup(&t, &config, &receiver, 3, &vault).await;
    let dying = webhooks.spawn_dispatcher(Arc::new(Dies));
    for _ in 0..1_000 {
        let now = SystemClock.now_ms();
        let claimed = t
            .store
            .read(move |sql| {
                sql.query_one(
                    "SELECT COUNT(*) FROM webhook_deliveries WHERE next_attempt_at_ms > $1",
                    &[Value::Int(now)],
                )?
                .i64(0)
            })
            .await
            .expect("count");
        if claimed == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Another replica, on its own clock: until the lease runs out it finds nothing to
    // send; once its clock passes the lease, it sends all three.
    let claimed_at_ms = SystemClock.now_ms();
    let clock = Arc::new(ManualClock::new(claimed_at_ms));
    let survivor = Webhooks::new(
        t.store.clone(),
        clock.clone(),
        Arc::new(SequentialIds::default()),
        config.clone(),
        vault.clone(),
    );
    let transport = http(&survivor);
    assert_eq!(
        survivor
            .dispatch_once(transport.as_ref(), 10)
            .await
            .expect("round"),
        0,
        "claimed: not sent twice at once"
    );
    assert!(receiver.got("hook").is_empty());
    clock.advance_ms(config.lease_ms() + 1);
    assert_eq!(
        survivor
            .dispatch_once(transport.as_ref(), 10)
            .await
            .expect("round"),
        3
    );
    wait_for(&receiver, 3).await;
    drop(dying); // never finishes: it is "dead"
    let mut ids: Vec<String> = receiver
        .got("hook")
        .iter()
        .map(|r| r.header("fulgur-event-id"))
        .collect();
    ids.sort();
    assert_eq!(ids, ["evt_0000", "evt_0001", "evt_0002"]);
    let log = webhooks
        .deliveries(&Scope::All, "whk_000001", None, None, 10)
        .await
        .expect("log");
    assert!(log
        .iter()
        .all(|d| d.state == webhooks::DeliveryState::Delivered));
}
