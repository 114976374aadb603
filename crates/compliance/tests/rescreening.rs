//! Customers against the lists over time, on both stores: a match at creation is an
//! alert; a new list version is rescreened only over the entries it added or changed (an
//! unchanged entry alerts nobody again), once across two replicas racing for it; a
//! clearance holds while its entry is unchanged and lapses when the list changes it;
//! reviews past due raise one alert per due date. A name put on the watchlist screens
//! every existing customer at once (a node key does not).

use std::sync::Arc;

use compliance::risk::RiskTable;
use compliance::{
    alerts, AlertFilter, DueDiligence, ListFile, ListFormat, NewCustomer, NewList, Screening,
    ScreeningConfig,
};
use kernel::{Actor, Clock, ManualClock, SequentialIds};
use store::testing::TestStore;
use store::Store;

store::on_both_stores!(
    lists_changing_under_customers_raise_alerts_once_and_respect_clearances,
    a_name_put_on_the_watchlist_screens_every_customer_at_once
);

/// 2026-12-05T12:00:00Z.
const NOON_MS: i64 = 1_796_472_000_000;
const DAY_MS: i64 = 86_400_000;
const HEADER: &str = "id,schema,name,aliases,birth_date,countries,addresses,identifiers,\
    sanctions,phones,emails,dataset,first_seen,last_seen,last_change\n";
const SIDOROV: &str = "NK-1,Person,Ivan Petrovich Sidorov,,1961-02-03,ru,,,EU,,,eu,2020-01-01,2024-05-01,2024-05-01\n";
const SIDOROV_CHANGED: &str = "NK-1,Person,Ivan Petrovich Sidorov,Ivan Sidoroff,1961-02-03,ru;by,,,EU,,,eu,2020-01-01,2024-06-01,2024-06-01\n";
const TRADING: &str =
    "NK-2,Company,Global Trade Holdings Ltd,,,ae,,,EU,,,eu,2020-01-01,2024-05-01,2024-05-01\n";
const GONZALES: &str =
    "NK-3,Person,Maria Gonzales Ortega,,1975-01-01,es,,,EU,,,eu,2024-05-20,2024-05-20,2024-05-20\n";
const GONZALES_AGAIN: &str =
    "NK-9,Person,Maria Gonzales-Ortega,,1975-01-01,es,,,EU,,,eu,2024-07-01,2024-07-01,2024-07-01\n";

struct Replica {
    screening: Screening,
    dd: DueDiligence,
}

fn replica(store: Store, clock: Arc<ManualClock>, ids: Arc<SequentialIds>) -> Replica {
    let clock: Arc<dyn Clock> = clock;
    let screening = Screening::new(
        store.clone(),
        Arc::clone(&clock),
        ids.clone(),
        ScreeningConfig::default(),
    );
    let dd = DueDiligence::new(store, clock, ids, screening.clone(), RiskTable::default());
    Replica { screening, dd }
}

async fn load(r: &Replica, rows: &[&str]) {
    let csv = format!("{HEADER}{}", rows.concat());
    r.screening
        .import(
            &Actor::system("test"),
            NewList {
                format: ListFormat::OpensanctionsSimple,
                list: "eu-fsf".into(),
                source: "test".into(),
                list_date: None,
                files: vec![ListFile {
                    name: "targets.simple.csv".into(),
                    bytes: csv.into_bytes(),
                }],
            },
        )
        .await
        .expect("import");
}

async fn customer(r: &Replica, name: &str, country: &str) -> String {
    r.dd.create(
        &Actor::system("test"),
        NewCustomer {
            tenant_id: "acme".into(),
            name: name.into(),
            kind: "person".into(),
            country: country.into(),
            business_type: "individual".into(),
            expected_monthly_eur_cents: 100_000,
            source_of_funds: "salary".into(),
        },
    )
    .await
    .expect("customer")
    .id
}

/// The customers' tenant.
async fn tenant(store: &Store) {
    store
        .write(|sql| {
            sql.execute(
                "INSERT INTO tenants (id, name, created_at_ms) VALUES ('acme', 'Acme', 0)",
                &[],
            )
        })
        .await
        .expect("tenant");
}

/// The customer's alerts of `rule`, oldest first.
async fn alerts_of(store: &Store, customer: &str, rule: &str) -> Vec<compliance::Alert> {
    let filter = AlertFilter {
        customer_id: Some(customer.to_string()),
        limit: 500,
        ..AlertFilter::default()
    };
    let mut found: Vec<_> = store
        .read(move |sql| alerts::list(sql, &filter))
        .await
        .expect("alerts")
        .into_iter()
        .filter(|a| a.draft.rule == rule)
        .collect();
    found.reverse();
    found
}

async fn lists_changing_under_customers_raise_alerts_once_and_respect_clearances(t: TestStore) {
    let clock = Arc::new(ManualClock::new(NOON_MS));
    let ids = Arc::new(SequentialIds::default());
    let one = replica(t.store.clone(), clock.clone(), ids.clone());
    let second_handle = t.second_handle().await.expect("handle");
    let two = replica(second_handle, clock.clone(), ids.clone());
    tenant(&t.store).await;
    let officer = Actor::system("officer");
    let matches = "sanctions_match";

    // Version 1; a listed person becomes a customer: one alert, with its evidence.
    load(&one, &[SIDOROV, TRADING]).await;
    let ivan = customer(&one, "Ivan Sidorov", "RU").await;
    let maria = customer(&one, "Maria Gonzales Ortega", "ES").await;
    let at_creation = alerts_of(&t.store, &ivan, matches).await;
    assert_eq!(at_creation.len(), 1);
    assert!(at_creation[0]
        .draft
        .evidence
        .contains("eu-fsf version 1 entry NK-1"));
    assert_eq!(
        at_creation[0].draft.direction, None,
        "about the customer, not a payment"
    );
    assert!(alerts_of(&t.store, &maria, matches).await.is_empty());
    // Version 1's own rescreening finds nothing new: the match is alerted already.
    assert_eq!(one.dd.rescreen_pending().await.expect("rescreen"), 0);
    assert_eq!(one.dd.rescreen_pending().await.expect("nothing pending"), 0);

    // Cleared as a false positive (a different Ivan Sidorov).
    let refused = one
        .dd
        .clear(&officer, &ivan, "eu-fsf", "NK-404", "not listed")
        .await
        .expect_err("no such entry");
    assert_eq!(refused.code(), "invalid_field");
    let refused = one
        .dd
        .clear(&officer, &ivan, "eu-fsf", "NK-1", " ")
        .await
        .expect_err("a reason");
    assert_eq!(refused.code(), "invalid_field");
    let refused = one
        .dd
        .clear(&officer, "cus_nobody", "eu-fsf", "NK-1", "x")
        .await
        .expect_err("no customer");
    assert_eq!(refused.code(), "customer_not_found");
    one.dd
        .clear(
            &officer,
            &ivan,
            "eu-fsf",
            "NK-1",
            "born 1984 in Minsk, passport seen",
        )
        .await
        .expect("cleared");

    // Version 2 adds Maria's namesake and leaves NK-1 as it was: only Maria is alerted.
    clock.advance_ms(DAY_MS);
    load(&one, &[SIDOROV, TRADING, GONZALES]).await;
    assert_eq!(one.dd.rescreen_pending().await.expect("rescreen"), 1);
    assert_eq!(alerts_of(&t.store, &maria, matches).await.len(), 1);
    assert_eq!(alerts_of(&t.store, &ivan, matches).await.len(), 1);
    let cleared = one.dd.clearances(&ivan).await.expect("clearances");
    assert!(!cleared[0].lapsed, "the entry is unchanged");

    // Version 3 changes NK-1: the clearance lapses and Ivan is alerted again, once, though
    // two replicas race to rescreen it.
    clock.advance_ms(DAY_MS);
    load(&one, &[SIDOROV_CHANGED, TRADING, GONZALES]).await;
    two.screening
        .refresh()
        .await
        .expect("the second replica's lists");
    let (a, b) = tokio::join!(one.dd.rescreen_pending(), two.dd.rescreen_pending());
    assert_eq!(a.expect("one") + b.expect("two"), 1, "raised once");
    let ivans = alerts_of(&t.store, &ivan, matches).await;
    assert_eq!(ivans.len(), 2);
    assert!(ivans[1].draft.evidence.contains("version 3"));
    let cleared = one.dd.clearances(&ivan).await.expect("clearances");
    assert!(cleared[0].lapsed, "the entry changed since it was cleared");
    assert_eq!(
        alerts_of(&t.store, &maria, matches).await.len(),
        1,
        "NK-3 unchanged"
    );

    // Two versions loaded before a rescreening: the superseded one is passed over (it is
    // not in force), the newer one compared against the last rescreened (version 3).
    load(&one, &[SIDOROV_CHANGED, TRADING, GONZALES, GONZALES_AGAIN]).await;
    load(&one, &[SIDOROV_CHANGED, GONZALES, GONZALES_AGAIN]).await;
    assert_eq!(one.dd.rescreen_pending().await.expect("version 4"), 0);
    assert_eq!(one.dd.rescreen_pending().await.expect("version 5"), 1);
    let marias = alerts_of(&t.store, &maria, matches).await;
    assert_eq!(marias.len(), 2);
    assert!(marias[1].draft.evidence.contains("version 5 entry NK-9"));
    assert_eq!(one.dd.rescreen_pending().await.expect("nothing left"), 0);

    // Reviews: none due yet; past the due date one alert per customer, once.
    assert_eq!(one.dd.raise_due_reviews().await.expect("reviews"), 0);
    let due = one.dd.get(&ivan).await.expect("ivan").next_review_at_ms;
    clock.advance_ms(due - clock.now_ms() + 1);
    let (a, b) = tokio::join!(one.dd.raise_due_reviews(), two.dd.raise_due_reviews());
    let raised = a.expect("one") + b.expect("two");
    assert!(raised >= 1, "Ivan's review is past due");
    assert_eq!(alerts_of(&t.store, &ivan, "review_overdue").await.len(), 1);
    assert_eq!(one.dd.raise_due_reviews().await.expect("again"), 0);
}

async fn a_name_put_on_the_watchlist_screens_every_customer_at_once(t: TestStore) {
    let clock = Arc::new(ManualClock::new(NOON_MS));
    let one = replica(t.store.clone(), clock, Arc::new(SequentialIds::default()));
    tenant(&t.store).await;
    load(&one, &[TRADING]).await;
    let erika = customer(&one, "Erika Mustermann", "DE").await;
    let hans = customer(&one, "Hans Schmidt", "DE").await;
    let matches = "sanctions_match";
    assert!(alerts_of(&t.store, &erika, matches).await.is_empty());
    let officer = Actor::system("officer");
    let (item, raised) = one
        .dd
        .watch(
            &officer,
            compliance::WatchKind::Name,
            "MUSTERMANN, Erika",
            "a tip from the police",
        )
        .await
        .expect("watched");
    assert_eq!(raised, 1);
    let found = alerts_of(&t.store, &erika, matches).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].draft.evidence.contains(&item.id) && found[0].draft.evidence.contains("internal"),
        "{}",
        found[0].draft.evidence
    );
    assert!(alerts_of(&t.store, &hans, matches).await.is_empty());
    // A node key screens payments, not customers; the same name again is refused.
    // The generator point: a valid compressed key.
    let key = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    let (_, none) = one
        .dd
        .watch(
            &officer,
            compliance::WatchKind::NodePubkey,
            key,
            "their node",
        )
        .await
        .expect("watched");
    assert_eq!(none, 0);
    assert!(matches!(
        one.dd
            .watch(
                &officer,
                compliance::WatchKind::Name,
                "MUSTERMANN, Erika",
                "again"
            )
            .await,
        Err(compliance::ComplianceError::AlreadyWatched(_))
    ));
    assert_eq!(alerts_of(&t.store, &erika, matches).await.len(), 1);
}
