//! Property tests of the books: any sequence of transfers, holds, releases and
//! settlements — hostile amounts included, refused or not — leaves a ledger that balances
//! to zero, whose stored balances and pending amounts equal their postings and holds, with
//! no account below what it may hold, and whose balances equal a plain model's.

use std::collections::BTreeMap;

use ledger::{
    check_books, create_account, create_tenant, get_account, place_hold, post, release_hold,
    settle_hold, AccountKind, JournalEntry, LedgerError, NewAccount, Posting, MAX_MONEY_MSAT,
};
use proptest::prelude::*;
use store::testing::TestStore;
use store::Store;

const NOW: i64 = 1_700_000_000_000;
const CUSTOMERS: [&str; 3] = ["a", "b", "c"];
const FUNDING_MSAT: i64 = 1_000_000;

#[derive(Debug, Clone)]
enum Op {
    /// Customer `from` pays customer `to`.
    Transfer {
        from: usize,
        to: usize,
        amount_msat: u64,
    },
    /// Customer `account` sets funds aside (for an outgoing payment).
    Hold { account: usize, amount_msat: u64 },
    /// The n-th hold placed so far (modulo) is released.
    Release { hold: usize },
    /// The n-th hold is settled: its account pays `share` per mille of it to the node.
    Settle { hold: usize, share: u16 },
}

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 1..200_000u64,
        1 => Just(0u64),
        1 => Just(MAX_MONEY_MSAT),
        1 => Just(MAX_MONEY_MSAT + 1),
        1 => Just(u64::MAX),
        1 => Just(i64::MAX as u64 + 1),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 0..3usize, amount()).prop_map(|(from, to, amount_msat)| Op::Transfer {
            from,
            to,
            amount_msat
        }),
        (0..3usize, amount()).prop_map(|(account, amount_msat)| Op::Hold {
            account,
            amount_msat
        }),
        (0..8usize).prop_map(|hold| Op::Release { hold }),
        (0..8usize, 0..=1_000u16).prop_map(|(hold, share)| Op::Settle { hold, share }),
    ]
}

/// What the ledger should say, computed the plain way.
#[derive(Debug, Default)]
struct Model {
    balance: BTreeMap<String, i128>,
    /// Holds placed: (id, account, amount, still active).
    holds: Vec<(String, String, u64, bool)>,
}

impl Model {
    fn available(&self, account: &str) -> i128 {
        let pending: i128 = self
            .holds
            .iter()
            .filter(|(_, a, _, active)| a == account && *active)
            .map(|(_, _, amount, _)| i128::from(*amount))
            .sum();
        self.balance.get(account).copied().unwrap_or(0) - pending
    }
}

fn valid(amount_msat: u64) -> bool {
    amount_msat > 0 && amount_msat <= MAX_MONEY_MSAT
}

async fn setup(store: &Store) -> Model {
    store
        .write(|sql| -> Result<(), LedgerError> {
            create_tenant(sql, "t", "T", NOW)?;
            for (id, kind, negative) in [
                ("a", AccountKind::Customer, false),
                ("b", AccountKind::Customer, false),
                ("c", AccountKind::Customer, false),
                ("node", AccountKind::Node, true),
            ] {
                create_account(
                    sql,
                    &NewAccount {
                        id,
                        tenant_id: "t",
                        name: id,
                        kind,
                        allow_negative: negative,
                    },
                    NOW,
                )?;
            }
            post(
                sql,
                &JournalEntry {
                    id: "funding".into(),
                    kind: "test".into(),
                    reference: None,
                    postings: vec![
                        Posting::new("a", "test", FUNDING_MSAT),
                        Posting::new("node", "test", -FUNDING_MSAT),
                    ],
                },
                NOW,
            )
            .map(|_| ())
        })
        .await
        .expect("setup");
    let mut model = Model::default();
    model.balance.insert("a".into(), i128::from(FUNDING_MSAT));
    model
        .balance
        .insert("node".into(), -i128::from(FUNDING_MSAT));
    model
}

async fn apply(store: &Store, model: &mut Model, n: usize, op: Op) {
    match op {
        Op::Transfer {
            from,
            to,
            amount_msat,
        } => {
            let (from, to) = (CUSTOMERS[from], CUSTOMERS[to]);
            let ok = from != to
                && valid(amount_msat)
                && model.available(from) >= i128::from(amount_msat);
            let amount = i64::try_from(amount_msat).unwrap_or(i64::MAX);
            let entry = JournalEntry {
                id: format!("t{n}"),
                kind: "test".into(),
                reference: None,
                postings: vec![
                    Posting::new(from, "test", amount.saturating_neg()),
                    Posting::new(to, "test", amount),
                ],
            };
            let done = store.write(move |sql| post(sql, &entry, NOW)).await;
            if from == to {
                // A self-transfer balances trivially; the ledger may take it. No effect.
                return;
            }
            assert_eq!(
                done.is_ok(),
                ok,
                "transfer {from}->{to} {amount_msat}: {done:?}"
            );
            if ok {
                *model.balance.entry(from.into()).or_default() -= i128::from(amount_msat);
                *model.balance.entry(to.into()).or_default() += i128::from(amount_msat);
            }
        }
        Op::Hold {
            account,
            amount_msat,
        } => {
            let account = CUSTOMERS[account];
            let ok = valid(amount_msat) && model.available(account) >= i128::from(amount_msat);
            let id = format!("h{n}");
            let (hold, owner) = (id.clone(), account.to_string());
            let done = store
                .write(move |sql| place_hold(sql, &hold, &owner, amount_msat, "p", NOW))
                .await;
            assert_eq!(done.is_ok(), ok, "hold {account} {amount_msat}: {done:?}");
            if ok {
                model.holds.push((id, account.into(), amount_msat, true));
            }
        }
        Op::Release { hold } => {
            let Some(index) = (!model.holds.is_empty()).then(|| hold % model.holds.len()) else {
                return;
            };
            let (id, _, _, active) = model.holds[index].clone();
            let done = store.write(move |sql| release_hold(sql, &id, NOW)).await;
            assert_eq!(done.is_ok(), active, "release: {done:?}");
            model.holds[index].3 = false;
        }
        Op::Settle { hold, share } => {
            let Some(index) = (!model.holds.is_empty()).then(|| hold % model.holds.len()) else {
                return;
            };
            let (id, account, amount, active) = model.holds[index].clone();
            let paid = i64::try_from(u128::from(amount) * u128::from(share) / 1_000)
                .expect("below the hold");
            let entry = JournalEntry {
                id: format!("s{n}"),
                kind: "test".into(),
                reference: None,
                postings: vec![
                    Posting::new(&account, "test", -paid),
                    Posting::new("node", "test", paid),
                ],
            };
            let done = store
                .write(move |sql| settle_hold(sql, &id, &entry, NOW))
                .await;
            let ok = active && paid > 0;
            assert_eq!(done.is_ok(), ok, "settle {amount} x{share}: {done:?}");
            if ok {
                model.holds[index].3 = false;
                *model.balance.entry(account).or_default() -= i128::from(paid);
                *model.balance.entry("node".into()).or_default() += i128::from(paid);
            }
        }
    }
}

async fn run_case(store: Store, ops: Vec<Op>) {
    let mut model = setup(&store).await;
    for (n, op) in ops.into_iter().enumerate() {
        apply(&store, &mut model, n, op).await;
    }
    let report = store.read(check_books).await.expect("check");
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.total_msat, 0);
    for id in ["a", "b", "c", "node"] {
        let account = store
            .read(move |sql| get_account(sql, id))
            .await
            .expect("account");
        let expected = model.balance.get(id).copied().unwrap_or(0);
        assert_eq!(i128::from(account.balance_msat), expected, "{id}");
        let pending: u64 = model
            .holds
            .iter()
            .filter(|(_, a, _, active)| a == id && *active)
            .map(|(_, _, amount, _)| amount)
            .sum();
        assert_eq!(account.pending_msat, pending, "{id} pending");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn the_books_hold_their_invariants_on_sqlite(ops in prop::collection::vec(op(), 1..40)) {
        runtime().block_on(async {
            let t = TestStore::sqlite().await.expect("store");
            run_case(t.store.clone(), ops).await;
        });
    }
}

proptest! {
    // Fewer cases: each one is a fresh PostgreSQL database.
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn the_books_hold_their_invariants_on_postgres(ops in prop::collection::vec(op(), 1..40)) {
        runtime().block_on(async {
            let t = TestStore::postgres().await.expect("store");
            run_case(t.store.clone(), ops).await;
        });
    }
}
