//! Idempotent answers older than the period go, oldest first and at most
//! `IDEMPOTENCY_PRUNE_ROWS` per step; newer ones stay. Both stores.

use store::testing::TestStore;
use store::{StoreError, Value};

use super::{prune_idempotency, IDEMPOTENCY_PRUNE_ROWS};

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
    let first = t
        .store
        .write(|sql| prune_idempotency(sql, 1_000))
        .await
        .expect("first step");
    assert_eq!(first, IDEMPOTENCY_PRUNE_ROWS as u64, "one step is bounded");
    let oldest_left = t
        .store
        .read(|sql| {
            sql.query_one("SELECT MIN(created_at_ms) AS m FROM idempotency_keys", &[])?
                .i64("m")
        })
        .await
        .expect("oldest");
    assert_eq!(oldest_left, IDEMPOTENCY_PRUNE_ROWS, "the oldest went first");
    let second = t
        .store
        .write(|sql| prune_idempotency(sql, 1_000))
        .await
        .expect("second step");
    assert_eq!(second, 20);
    let third = t
        .store
        .write(|sql| prune_idempotency(sql, 1_000))
        .await
        .expect("third step");
    assert_eq!(third, 0);
    let left = t
        .store
        .read(|sql| {
            sql.query_one("SELECT COUNT(*) AS n FROM idempotency_keys", &[])?
                .i64("n")
        })
        .await
        .expect("count");
    assert_eq!(left, 5, "the answers newer than the period stay");
}
