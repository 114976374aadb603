//! `payment_spend_days` (what the velocity and customer limits read) is kept by triggers
//! on `payments`: after any mix of inserts, status changes, amount and day changes and
//! deletes, on both stores, it holds exactly the per-account, per-UTC-day sum of the
//! payments that count (neither failed nor rejected).

use std::collections::BTreeMap;

use store::testing::{Dice, TestStore};
use store::{Sql, StoreError, Value};

store::on_both_stores!(the_days_sums_follow_every_change_to_payments);

const DAY_MS: i64 = 86_400_000;
const STATUSES: [&str; 6] = [
    "pending",
    "awaiting_approval",
    "in_flight",
    "succeeded",
    "failed",
    "rejected",
];

fn setup(sql: &mut dyn Sql) -> Result<(), StoreError> {
    sql.execute(
        "INSERT INTO tenants (id, name, created_at_ms) VALUES ('t', 't', 1)",
        &[],
    )?;
    for account in ["a", "b", "c"] {
        sql.execute(
            "INSERT INTO accounts (id, tenant_id, name, kind, created_at_ms) \
             VALUES ($1, 't', $1, 'customer', 1)",
            &[account.into()],
        )?;
    }
    Ok(())
}

/// One random change to the payments table.
fn change(sql: &mut dyn Sql, dice: &mut Dice, step: u64) -> Result<(), StoreError> {
    let id = format!("pay_{}", dice.roll(40));
    let account = ["a", "b", "c"][dice.roll(3) as usize];
    // Around a few day boundaries, so that days split and a moved payment changes day.
    let at_ms = 1_796_428_800_000 + (dice.roll(4) as i64 - 1) * DAY_MS + dice.roll(3) as i64 - 1;
    let status = STATUSES[dice.roll(6) as usize];
    let eur_cents = match dice.roll(5) {
        0 => Value::Null,
        1 => Value::Int(0),
        _ => Value::Int(dice.roll(100_000) as i64),
    };
    match dice.roll(5) {
        0 | 1 => {
            sql.execute(
                "INSERT INTO payments (id, tenant_id, account_id, bolt11, payment_hash, \
                 destination, amount_msat, max_fee_msat, status, route, created_at_ms, \
                 updated_at_ms, eur_cents) \
                 VALUES ($1, 't', $2, 'lnbc', $3, 'node', 1000, 0, $4, 'internal', $5, $5, $6) \
                 ON CONFLICT DO NOTHING",
                &[
                    id.as_str().into(),
                    account.into(),
                    format!("hash_{step}").into(),
                    status.into(),
                    Value::Int(at_ms),
                    eur_cents,
                ],
            )?;
        }
        2 => {
            sql.execute(
                "UPDATE payments SET status = $2 WHERE id = $1",
                &[id.as_str().into(), status.into()],
            )?;
        }
        3 => {
            // What no gateway path does, but an operator's SQL might.
            sql.execute(
                "UPDATE payments SET eur_cents = $2, created_at_ms = $3, account_id = $4 \
                 WHERE id = $1",
                &[
                    id.as_str().into(),
                    eur_cents,
                    Value::Int(at_ms),
                    account.into(),
                ],
            )?;
        }
        _ => {
            sql.execute("DELETE FROM payments WHERE id = $1", &[id.as_str().into()])?;
        }
    }
    Ok(())
}

type Sums = BTreeMap<(String, i64), i64>;

fn sums(sql: &mut dyn Sql, query: &str) -> Result<Sums, StoreError> {
    let mut sums = Sums::new();
    for row in sql.query(query, &[])? {
        let total = row.i64("eur_cents")?;
        if total != 0 {
            sums.insert(
                (
                    row.text("account_id")?.to_string(),
                    row.i64("day_start_ms")?,
                ),
                total,
            );
        }
    }
    Ok(sums)
}

async fn the_days_sums_follow_every_change_to_payments(t: TestStore) {
    t.store.write(setup).await.expect("setup");
    let mut dice = Dice(7);
    for round in 0..20u64 {
        // Ten changes per transaction, then the invariant.
        let rolls: Vec<u64> = (0..10).map(|_| dice.roll(u64::MAX)).collect();
        t.store
            .write(move |sql| {
                for (i, seed) in rolls.into_iter().enumerate() {
                    change(sql, &mut Dice(seed), round * 10 + i as u64)?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .expect("changes");
        let (kept, expected) = t
            .store
            .read(|sql| {
                let kept = sums(
                    sql,
                    "SELECT account_id, day_start_ms, eur_cents FROM payment_spend_days",
                )?;
                let expected = sums(
                    sql,
                    "SELECT account_id, created_at_ms - created_at_ms % 86400000 AS day_start_ms, \
                     CAST(SUM(COALESCE(eur_cents, 0)) AS BIGINT) AS eur_cents FROM payments \
                     WHERE status NOT IN ('failed', 'rejected') \
                     GROUP BY account_id, created_at_ms - created_at_ms % 86400000",
                )?;
                Ok::<_, StoreError>((kept, expected))
            })
            .await
            .expect("sums");
        assert_eq!(kept, expected, "after round {round}");
    }
    let counted = t
        .store
        .read(|sql| {
            sql.query_one(
                "SELECT COUNT(*) AS n FROM payments WHERE status NOT IN ('failed', 'rejected') \
                 AND COALESCE(eur_cents, 0) > 0",
                &[],
            )?
            .i64("n")
        })
        .await
        .expect("count");
    assert!(
        counted > 5,
        "the run leaves counted payments to compare ({counted})"
    );
}
