//! Operational retention of webhooks, on both stores: final deliveries of events older
//! than the period go with their attempts (25 deliveries' attempts per step at most),
//! then the events once fanned out and without deliveries; a pending delivery keeps its
//! event however old, an event not fanned out yet stays, and newer ones are untouched.

use std::sync::Arc;

use kernel::{ManualClock, SequentialIds};
use store::testing::TestStore;
use store::{Sql, StoreError, Value};
use webhooks::{WebhookConfig, Webhooks};

store::on_both_stores!(old_final_deliveries_and_their_events_go_and_nothing_else);

const DAY_MS: i64 = 86_400_000;
const NOW_MS: i64 = 1_796_428_800_000;

/// An event `age_days` old, fanned out or not, with `deliveries` deliveries in `state`,
/// each with three attempts.
fn event(
    sql: &mut dyn Sql,
    id: &str,
    age_days: i64,
    fanned_out: bool,
    (deliveries, state): (usize, &str),
) -> Result<(), StoreError> {
    let at_ms = NOW_MS - age_days * DAY_MS;
    sql.execute(
        "INSERT INTO outbox (id, tenant_id, event_type, payload, created_at_ms, webhooks_fanned_out) \
         VALUES ($1, 't1', 'payment.succeeded', '{}', $2, $3)",
        &[id.into(), Value::Int(at_ms), Value::Int(i64::from(fanned_out))],
    )?;
    for d in 0..deliveries {
        let delivery = format!("{id}-d{d}");
        sql.execute(
            "INSERT INTO webhook_subscriptions (id, tenant_id, url, secret, event_types, created_at_ms) \
             VALUES ($1, 't1', 'https://example.com/hook', 's', '*', 0)",
            &[format!("sub-{id}-{d}").into()],
        )?;
        sql.execute(
            "INSERT INTO webhook_deliveries (id, subscription_id, event_id, state, attempts, \
             next_attempt_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, 3, $5, $5)",
            &[
                delivery.as_str().into(),
                format!("sub-{id}-{d}").into(),
                id.into(),
                state.into(),
                Value::Int(at_ms),
            ],
        )?;
        for attempt in 1..=3 {
            sql.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempt, started_at_ms, duration_ms) \
                 VALUES ($1, $2, $3, 10)",
                &[
                    delivery.as_str().into(),
                    Value::Int(attempt),
                    Value::Int(at_ms),
                ],
            )?;
        }
    }
    Ok(())
}

async fn count(t: &TestStore, query: &'static str) -> i64 {
    t.store
        .read(move |sql| sql.query_one(query, &[])?.i64(0))
        .await
        .expect("count")
}

async fn old_final_deliveries_and_their_events_go_and_nothing_else(t: TestStore) {
    t.store
        .write(|sql| ledger::create_tenant(sql, "t1", "t1", 0))
        .await
        .expect("tenant");
    t.store
        .write(|sql| {
            event(sql, "old-delivered", 100, true, (40, "delivered"))?;
            event(sql, "old-failed", 100, true, (1, "failed"))?;
            event(sql, "old-pending", 100, true, (1, "pending"))?;
            event(sql, "old-not-fanned-out", 100, false, (0, "delivered"))?;
            event(sql, "old-no-subscriber", 100, true, (0, "delivered"))?;
            event(sql, "recent", 10, true, (2, "delivered"))?;
            Ok::<_, StoreError>(())
        })
        .await
        .expect("setup");
    let vault = vault::testing::software_vault(&t.store)
        .await
        .expect("vault");
    let webhooks = Webhooks::new(
        t.store.clone(),
        Arc::new(ManualClock::new(NOW_MS)),
        Arc::new(SequentialIds::default()),
        WebhookConfig::default(),
        vault,
    );
    let keep_ms = 90 * DAY_MS;
    // One step: the attempts of 25 deliveries at most.
    assert_eq!(webhooks.prune(keep_ms, 1).await.expect("one step"), 75);
    let deleted = webhooks.prune(keep_ms, 100).await.expect("the rest");
    // 41 final old deliveries with 3 attempts each, less the first step's; 41
    // deliveries; 3 events.
    assert_eq!(deleted, 41 * 3 - 75 + 41 + 3);
    assert_eq!(webhooks.prune(keep_ms, 100).await.expect("again"), 0);
    let mut events: Vec<String> = t
        .store
        .read(|sql| {
            sql.query("SELECT id FROM outbox ORDER BY id", &[])?
                .iter()
                .map(|r| r.text("id").map(str::to_string))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .expect("events");
    events.sort();
    assert_eq!(events, ["old-not-fanned-out", "old-pending", "recent"]);
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM webhook_deliveries").await,
        3
    );
    assert_eq!(count(&t, "SELECT COUNT(*) FROM webhook_attempts").await, 9);
}
