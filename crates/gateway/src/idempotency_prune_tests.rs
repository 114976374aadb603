//! Idempotent answers older than the period go, oldest first and at most
//! `IDEMPOTENCY_PRUNE_ROWS` per step; newer ones stay. Both stores.

use store::testing::TestStore;
use store::{StoreError, Value};

use super::{prune_idempotency, IDEMPOTENCY_PRUNE_ROWS};

async fn step(t: &TestStore) -> u64 {
    t.store
        .write(|sql| prune_idempotency(sql, 1_000))
        .await
        .expect("step")
}

async fn one(t: &TestStore, query: &'static str) -> i64 {
    t.store
        .read(move |sql| sql.query_one(query, &[])?.i64(0))
        .await
        .expect("query")
}

store::on_both_stores!(old_answers_go_in_bounded_steps_and_new_ones_stay);

async fn old_answers_go_in_bounded_steps_and_new_ones_stay(t: TestStore) {
    let old = IDEMPOTENCY_PRUNE_ROWS + 20;
    t.store
        .write(move |sql| {
            for i in 0..old + 5 {
                // `old` answers a day apart before the cutoff (1,000), five after it.
                let at_ms = if i < old { i } else { 1_000 + i };
                sql.execute(
                    "INSERT INTO idempotency_keys (tenant_id, idempotency_key, request_hash, \
                     status_code, response_body, created_at_ms) VALUES ('t', $1, 'h', 202, '{}', $2)",
                    &[format!("key-{i}").into(), Value::Int(at_ms)],
                )?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .expect("answers");
    assert_eq!(
        step(&t).await,
        IDEMPOTENCY_PRUNE_ROWS as u64,
        "one step is bounded"
    );
    assert_eq!(
        one(&t, "SELECT MIN(created_at_ms) FROM idempotency_keys").await,
        IDEMPOTENCY_PRUNE_ROWS,
        "the oldest went first"
    );
    assert_eq!(step(&t).await, 20);
    assert_eq!(step(&t).await, 0);
    assert_eq!(
        one(&t, "SELECT COUNT(*) FROM idempotency_keys").await,
        5,
        "the answers newer than the period stay"
    );
}
