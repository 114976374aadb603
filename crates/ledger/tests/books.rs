//! The ledger on both stores: balanced entries only, holds that reserve and settle or
//! release, no overdraft (also under concurrency), statements, and a books check that
//! finds tampering.

use std::sync::Arc;

use ledger::{
    check_books, create_account, create_tenant, entries, get_account, place_hold, post,
    release_hold, settle_hold, Account, AccountKind, JournalEntry, LedgerError, NewAccount,
    Posting,
};
use store::testing::TestStore;
use store::{Sql, Store};

store::on_both_stores!(
    balanced_entries_move_money_and_unbalanced_ones_leave_no_trace,
    holds_reserve_then_settle_or_release,
    no_account_is_overdrawn_even_under_concurrent_holds,
    statements_page_through_postings_with_running_balances,
    the_books_check_finds_tampering,
    accounts_refuse_duplicates_and_unknown_tenants,
);

const NOW: i64 = 1_700_000_000_000;

fn entry(id: &str, postings: &[(&str, i64)]) -> JournalEntry {
    JournalEntry {
        id: id.to_string(),
        kind: "test".to_string(),
        reference: None,
        postings: postings
            .iter()
            .map(|(account, amount)| Posting::new(account, "test", *amount))
            .collect(),
    }
}

/// A tenant with customer accounts `a` and `b`, a node account and equity; the node holds
/// 1,000,000 msat of the owner's capital and `a` has received 10,000 msat through it.
async fn books(store: &Store) {
    store
        .write(|sql| -> Result<(), LedgerError> {
            create_tenant(sql, "t1", "Treasury", NOW)?;
            for (id, kind, negative) in [
                ("a", AccountKind::Customer, false),
                ("b", AccountKind::Customer, false),
                ("node", AccountKind::Node, true),
                ("equity", AccountKind::Equity, false),
            ] {
                create_account(
                    sql,
                    &NewAccount {
                        id,
                        tenant_id: "t1",
                        name: id,
                        kind,
                        allow_negative: negative,
                    },
                    NOW,
                )?;
            }
            post(
                sql,
                &entry("opening", &[("node", -1_000_000), ("equity", 1_000_000)]),
                NOW,
            )?;
            post(
                sql,
                &entry("incoming", &[("a", 10_000), ("node", -10_000)]),
                NOW,
            )
        })
        .await
        .expect("books");
}

async fn account(store: &Store, id: &'static str) -> Account {
    store
        .read(move |sql| get_account(sql, id))
        .await
        .expect("account")
}

async fn journal_count(store: &Store) -> i64 {
    store
        .read(|sql| sql.query_one("SELECT COUNT(*) FROM journal", &[])?.i64(0))
        .await
        .expect("count")
}

async fn balanced_entries_move_money_and_unbalanced_ones_leave_no_trace(t: TestStore) {
    let store = &t.store;
    books(store).await;
    assert_eq!(account(store, "a").await.balance_msat, 10_000);
    assert_eq!(account(store, "node").await.balance_msat, -1_010_000);
    let before = journal_count(store).await;

    let unbalanced = store
        .write(|sql| post(sql, &entry("bad", &[("a", -100), ("b", 99)]), NOW))
        .await;
    assert_eq!(unbalanced, Err(LedgerError::Unbalanced { sum_msat: -1 }));
    let empty = store
        .write(|sql| post(sql, &entry("empty", &[]), NOW))
        .await;
    assert_eq!(empty, Err(LedgerError::EmptyPosting));
    let zero = store
        .write(|sql| post(sql, &entry("zero", &[("a", 0), ("b", 0)]), NOW))
        .await;
    assert_eq!(zero, Err(LedgerError::EmptyPosting));
    let unknown = store
        .write(|sql| post(sql, &entry("ghost", &[("a", -100), ("nobody", 100)]), NOW))
        .await;
    assert_eq!(unknown, Err(LedgerError::UnknownAccount("nobody".into())));
    // The first posting (to `a`) had applied before `nobody` failed: it is rolled back.
    assert_eq!(account(store, "a").await.balance_msat, 10_000);
    let overdraft = store
        .write(|sql| post(sql, &entry("over", &[("a", -10_001), ("b", 10_001)]), NOW))
        .await;
    assert_eq!(
        overdraft,
        Err(LedgerError::InsufficientFunds {
            account: "a".into(),
            available_msat: 10_000,
            needed_msat: 10_001
        })
    );
    let replayed = store
        .write(|sql| post(sql, &entry("incoming", &[("a", 1), ("node", -1)]), NOW))
        .await;
    assert!(matches!(replayed, Err(LedgerError::DuplicateId(_))));
    assert_eq!(
        journal_count(store).await,
        before,
        "no refused entry left a trace"
    );

    store
        .write(|sql| post(sql, &entry("internal", &[("a", -4_000), ("b", 4_000)]), NOW))
        .await
        .expect("internal transfer");
    assert_eq!(account(store, "a").await.balance_msat, 6_000);
    assert_eq!(account(store, "b").await.balance_msat, 4_000);
    let report = store.read(check_books).await.expect("check");
    assert!(report.is_balanced(), "{report:?}");
}

async fn holds_reserve_then_settle_or_release(t: TestStore) {
    let store = &t.store;
    books(store).await;
    store
        .write(|sql| place_hold(sql, "h1", "a", 3_000, "pay-1", NOW))
        .await
        .expect("hold");
    let a = account(store, "a").await;
    assert_eq!(
        (a.balance_msat, a.pending_msat, a.available_msat()),
        (10_000, 3_000, 7_000)
    );

    let too_much = store
        .write(|sql| place_hold(sql, "h2", "a", 7_001, "pay-2", NOW))
        .await;
    assert!(matches!(
        too_much,
        Err(LedgerError::InsufficientFunds {
            available_msat: 7_000,
            ..
        })
    ));
    // Spending what is held is refused too.
    let spend_held = store
        .write(|sql| post(sql, &entry("spend", &[("a", -7_001), ("b", 7_001)]), NOW))
        .await;
    assert!(matches!(
        spend_held,
        Err(LedgerError::InsufficientFunds { .. })
    ));

    // Settle: 2,500 paid plus a 100 fee, within the 3,000 held.
    let settlement = JournalEntry {
        id: "settle-1".into(),
        kind: "payment".into(),
        reference: Some("pay-1".into()),
        postings: vec![
            Posting::new("a", "payment", -2_500),
            Posting::new("a", "fee", -100),
            Posting::new("node", "payment", 2_600),
        ],
    };
    let settled = store
        .write(move |sql| settle_hold(sql, "h1", &settlement, NOW))
        .await
        .expect("settle");
    assert_eq!(settled.amount_msat, 3_000);
    let a = account(store, "a").await;
    assert_eq!((a.balance_msat, a.pending_msat), (7_400, 0));
    let again = store.write(|sql| release_hold(sql, "h1", NOW)).await;
    assert_eq!(
        again,
        Err(LedgerError::HoldNotActive {
            id: "h1".into(),
            state: "settled".into()
        })
    );

    // A settlement above the hold is refused and the hold stays active.
    store
        .write(|sql| place_hold(sql, "h3", "a", 1_000, "pay-3", NOW))
        .await
        .expect("hold");
    let greedy = entry("settle-3", &[("a", -1_001), ("node", 1_001)]);
    let refused = store
        .write(move |sql| settle_hold(sql, "h3", &greedy, NOW))
        .await;
    assert!(matches!(
        refused,
        Err(LedgerError::SettlementExceedsHold { .. })
    ));
    assert_eq!(account(store, "a").await.pending_msat, 1_000);

    // Release: the funds are available again.
    store
        .write(|sql| release_hold(sql, "h3", NOW))
        .await
        .expect("release");
    let a = account(store, "a").await;
    assert_eq!((a.balance_msat, a.pending_msat), (7_400, 0));
    let unknown = store.write(|sql| release_hold(sql, "nope", NOW)).await;
    assert_eq!(unknown, Err(LedgerError::UnknownHold("nope".into())));
    let report = store.read(check_books).await.expect("check");
    assert!(report.is_balanced(), "{report:?}");
}

async fn no_account_is_overdrawn_even_under_concurrent_holds(t: TestStore) {
    let store = Arc::new(t.store.clone());
    books(&store).await;
    // Two handles (two replicas' writers): a hold that did not lock its row would pass.
    let replicas = [
        Arc::clone(&store),
        Arc::new(t.second_handle().await.expect("second handle")),
    ];
    // 10,000 msat available; 250 concurrent holds of 100 msat: exactly 100 fit.
    let mut tasks = Vec::new();
    for i in 0..250 {
        let store = Arc::clone(&replicas[i % 2]);
        tasks.push(tokio::spawn(async move {
            store
                .write(move |sql| place_hold(sql, &format!("h{i}"), "a", 100, "burst", NOW))
                .await
        }));
    }
    let mut placed = 0;
    for task in tasks {
        match task.await.expect("join") {
            Ok(_) => placed += 1,
            Err(LedgerError::InsufficientFunds { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(placed, 100);
    let a = account(&store, "a").await;
    assert_eq!((a.pending_msat, a.available_msat()), (10_000, 0));
    let report = store.read(check_books).await.expect("check");
    assert!(report.is_balanced(), "{report:?}");
}

async fn statements_page_through_postings_with_running_balances(t: TestStore) {
    let store = &t.store;
    books(store).await;
    for i in 0..5 {
        store
            .write(move |sql| {
                post(
                    sql,
                    &entry(&format!("p{i}"), &[("a", -1_000), ("b", 1_000)]),
                    NOW + i,
                )
            })
            .await
            .expect("post");
    }
    let first = store
        .read(|sql| entries(sql, "a", 0, 4))
        .await
        .expect("page 1");
    assert_eq!(first.len(), 4);
    assert_eq!(first[0].journal_id, "incoming");
    assert_eq!(first[0].balance_after_msat, 10_000);
    assert_eq!(first[3].balance_after_msat, 7_000);
    let after = first[3].seq;
    let second = store
        .read(move |sql| entries(sql, "a", after, 4))
        .await
        .expect("page 2");
    let running: Vec<i64> = second.iter().map(|e| e.balance_after_msat).collect();
    assert_eq!(running, vec![6_000, 5_000]);
    assert!(second
        .iter()
        .all(|e| e.amount_msat == -1_000 && e.seq > after));
    let unknown = store.read(|sql| entries(sql, "nobody", 0, 10)).await;
    assert_eq!(unknown, Err(LedgerError::UnknownAccount("nobody".into())));
}

async fn the_books_check_finds_tampering(t: TestStore) {
    let store = &t.store;
    books(store).await;
    let clean = store.read(check_books).await.expect("check");
    assert!(clean.is_balanced(), "{clean:?}");
    assert_eq!(clean.journal_entries, 2);
    assert_eq!(clean.postings, 4);

    // Someone edits a balance and a posting behind the ledger's back.
    store
        .write(|sql: &mut dyn Sql| {
            sql.execute(
                "UPDATE accounts SET balance_msat = balance_msat + 5 WHERE id = 'b'",
                &[],
            )?;
            sql.execute(
                "UPDATE postings SET amount_msat = 9999 \
                 WHERE journal_id = 'incoming' AND account_id = 'a'",
                &[],
            )
        })
        .await
        .expect("tamper");
    let report = store.read(check_books).await.expect("check");
    assert!(!report.is_balanced());
    assert_eq!(
        report.unbalanced_entries,
        vec![("incoming".to_string(), -1)]
    );
    assert!(report.balance_mismatches.contains(&("b".to_string(), 5, 0)));
    assert!(report
        .balance_mismatches
        .contains(&("a".to_string(), 10_000, 9_999)));
    assert_eq!(report.total_msat, 5);
}

async fn accounts_refuse_duplicates_and_unknown_tenants(t: TestStore) {
    let store = &t.store;
    books(store).await;
    let new = |id: &'static str, tenant: &'static str, name: &'static str| {
        move |sql: &mut dyn Sql| {
            create_account(
                sql,
                &NewAccount {
                    id,
                    tenant_id: tenant,
                    name,
                    kind: AccountKind::Customer,
                    allow_negative: false,
                },
                NOW,
            )
        }
    };
    assert_eq!(
        store.write(new("x", "t1", "a")).await,
        Err(LedgerError::DuplicateName("a".into()))
    );
    assert!(matches!(
        store.write(new("a", "t1", "other")).await,
        Err(LedgerError::DuplicateId(_))
    ));
    assert_eq!(
        store.write(new("y", "nope", "y")).await,
        Err(LedgerError::UnknownTenant("nope".into()))
    );
    // Tenant setup is repeatable; a different name under the same id is not.
    store
        .write(|sql| create_tenant(sql, "t1", "Treasury", NOW))
        .await
        .expect("same tenant again");
    assert!(matches!(
        store
            .write(|sql| create_tenant(sql, "t1", "Other", NOW))
            .await,
        Err(LedgerError::DuplicateId(_))
    ));
    let listed = store
        .read(|sql| ledger::list_accounts(sql, "t1", None, 2))
        .await
        .expect("list");
    assert_eq!(
        listed.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    let rest = store
        .read(|sql| ledger::list_accounts(sql, "t1", Some("b"), 10))
        .await
        .expect("list");
    assert_eq!(
        rest.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        vec!["equity", "node"]
    );
}
