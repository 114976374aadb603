//! The kept copy against a full read, on both stores: after every round of random
//! changes to a payer's payments and invoices (what other replicas, settlements, the
//! retention purge and an operator's SQL do), the history a payment's transaction gets
//! is exactly the one a full read gives (with the copy fresh, or stale and caught up in
//! the transaction), and a fresh copy serves most rounds.

use std::sync::Arc;

use store::testing::{Dice, TestStore};
use store::{Sql, StoreError, Value};

use super::{read, HistoryCache, Payer, WINDOW_MS};

store::on_both_stores!(the_kept_history_is_always_the_one_a_full_read_gives);

const DAY_MS: i64 = 86_400_000;
const START_MS: i64 = 1_796_428_800_000;

fn setup(sql: &mut dyn Sql) -> Result<(), StoreError> {
    sql.execute(
        "INSERT INTO tenants (id, name, created_at_ms) VALUES ('t', 't', 1)",
        &[],
    )?;
    sql.execute(
        "INSERT INTO customers (id, tenant_id, name, kind, country, business_type, \
         expected_monthly_eur_cents, source_of_funds, risk_score, risk_factors, risk_level, \
         jurisdictions_version, kyc_status, daily_limit_eur_cents, monthly_limit_eur_cents, \
         annual_limit_eur_cents, enhanced_monitoring, review_frequency, next_review_at_ms, \
         screening_hits, screened_at_ms, created_at_ms, updated_at_ms) \
         VALUES ('cus', 't', 'Muster GmbH', 'organization', 'DE', 'software', 1, 'revenue', \
         0, '[]', 'low', 'v1', 'verified', 1, 1, 1, 0, 'annual', 0, '[]', 0, 0, 0)",
        &[],
    )?;
    for (account, customer) in [("a", Some("cus")), ("b", Some("cus")), ("solo", None)] {
        sql.execute(
            "INSERT INTO accounts (id, tenant_id, name, kind, created_at_ms, customer_id) \
             VALUES ($1, 't', $1, 'customer', 1, $2)",
            &[account.into(), customer.into()],
        )?;
    }
    Ok(())
}

/// One random change, around `now_ms` (some of it older than the window).
fn change(sql: &mut dyn Sql, dice: &mut Dice, step: u64, now_ms: i64) -> Result<(), StoreError> {
    let account = ["a", "b", "solo"][dice.roll(3) as usize];
    let at_ms = now_ms - dice.roll(35) as i64 * DAY_MS - dice.roll(DAY_MS as u64) as i64;
    let payment = format!("pay_{}", dice.roll(60));
    let invoice = format!("inv_{}", dice.roll(30));
    match dice.roll(8) {
        0..=2 => {
            let status =
                ["pending", "in_flight", "succeeded", "failed", "rejected"][dice.roll(5) as usize];
            sql.execute(
                "INSERT INTO payments (id, tenant_id, account_id, bolt11, payment_hash, \
                 destination, amount_msat, max_fee_msat, status, route, created_at_ms, \
                 updated_at_ms, eur_cents) VALUES ($1, 't', $2, 'lnbc', $3, $4, 1000, 0, $5, \
                 'internal', $6, $6, $7) ON CONFLICT DO NOTHING",
                &[
                    payment.as_str().into(),
                    account.into(),
                    format!("hash_{step}").into(),
                    format!("node_{}", dice.roll(5)).into(),
                    status.into(),
                    Value::Int(at_ms),
                    Value::Int(dice.roll(1_000_000) as i64),
                ],
            )?;
        }
        3 => {
            let status = ["succeeded", "failed", "rejected"][dice.roll(3) as usize];
            sql.execute(
                "UPDATE payments SET status = $2 WHERE id = $1",
                &[payment.as_str().into(), status.into()],
            )?;
        }
        4 => {
            sql.execute(
                "INSERT INTO invoices (id, tenant_id, account_id, node_name, payment_hash, \
                 bolt11, amount_msat, description, status, expires_at_ms, created_at_ms) \
                 VALUES ($1, 't', $2, 'alpha', $3, 'lnbc', $4, '', 'open', 0, $5) \
                 ON CONFLICT DO NOTHING",
                &[
                    invoice.as_str().into(),
                    account.into(),
                    format!("ihash_{step}").into(),
                    Value::Int(1 + dice.roll(10_000_000) as i64),
                    Value::Int(at_ms),
                ],
            )?;
        }
        5 => {
            sql.execute(
                "UPDATE invoices SET status = 'paid', received_msat = amount_msat + $2, \
                 paid_at_ms = $3 WHERE id = $1 AND status = 'open'",
                &[
                    invoice.as_str().into(),
                    Value::Int(dice.roll(100) as i64),
                    Value::Int(at_ms),
                ],
            )?;
        }
        6 => {
            // The retention purge, or an operator.
            sql.execute(
                "DELETE FROM payments WHERE id = $1",
                &[payment.as_str().into()],
            )?;
        }
        _ => {
            // An operator's edit of what the rules read.
            sql.execute(
                "UPDATE payments SET created_at_ms = $2, eur_cents = $3 WHERE id = $1",
                &[
                    payment.as_str().into(),
                    Value::Int(at_ms),
                    Value::Int(dice.roll(1_000) as i64),
                ],
            )?;
        }
    }
    Ok(())
}

fn rate() -> approvals::EurRate {
    approvals::EurRate {
        eur_cents_per_btc: 500_000_000,
        source: "test".into(),
        at_ms: 0,
    }
}

async fn the_kept_history_is_always_the_one_a_full_read_gives(t: TestStore) {
    t.store.write(setup).await.expect("setup");
    let cache = Arc::new(HistoryCache::default());
    let mut dice = Dice(11);
    let (mut served, mut rounds) = (0, 0);
    for round in 0..60u64 {
        // Time moves on a few hours a round; once it steps back (an injected clock).
        let now_ms = match round {
            40 => START_MS + 30 * 4 * 3_600_000,
            _ => START_MS + round as i64 * 4 * 3_600_000,
        };
        let since_ms = now_ms - WINDOW_MS;
        let changes = dice.roll(4);
        let rolls: Vec<u64> = (0..changes).map(|_| dice.roll(u64::MAX)).collect();
        t.store
            .write(move |sql| {
                for (i, seed) in rolls.into_iter().enumerate() {
                    change(sql, &mut Dice(seed), round * 10 + i as u64, now_ms)?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .expect("changes");
        for (account, customer) in [("a", Some("cus")), ("b", Some("cus")), ("solo", None)] {
            // Every third round the copy is not refreshed: the transaction catches it up
            // with what changed (or reads in full), as when payments race.
            let refreshed = round % 3 != 0;
            if refreshed {
                let refresh = Arc::clone(&cache);
                t.store
                    .read(move |sql| refresh.refresh(sql, account, since_ms))
                    .await
                    .expect("refresh");
            }
            let cache = Arc::clone(&cache);
            let (kept, fresh, was_kept) = t
                .store
                .write(move |sql| {
                    let (payer, found) = Payer::of_account(sql, account)?;
                    assert_eq!(found.map(|c| c.id).as_deref(), customer);
                    let kept = cache.in_tx(sql, &payer, since_ms)?;
                    let Payer::Accounts { key, .. } = &payer else {
                        unreachable!("three accounts are listed");
                    };
                    let was_kept = cache.get(key).is_some_and(|k| Arc::ptr_eq(&k, &kept));
                    let fresh = read(sql, &payer, since_ms)?;
                    Ok::<_, StoreError>((
                        kept.past(since_ms, &rate()),
                        fresh.past(since_ms, &rate()),
                        was_kept,
                    ))
                })
                .await
                .expect("judge");
            assert_eq!(kept, fresh, "round {round}, payer of {account}");
            if refreshed {
                rounds += 1;
                served += usize::from(was_kept);
            }
        }
    }
    assert!(
        served * 10 >= rounds * 9,
        "the copy served {served} of {rounds} reads"
    );
}
