//! Retention on both stores over a real node: a customer's relationship ends (not while
//! a payment of it is held; final; its account sends nothing more, its profile changes
//! no more); a day before the five years have run the job deletes nothing; after them it
//! deletes, in bounded steps, the customer's payments, invoices and decided alerts, but
//! an open case keeps its alert and the customer's data until it has closed and its own
//! five years have run; then the customer's personal data is erased (audited once) —
//! while another account's records, the ledger's postings and the books stay whole.

use std::sync::Arc;

use compliance::{AlertDecision, AlertFilter, ComplianceError, CustomerChange, NewCustomer};
use gateway::{Gateway, GatewayError, NewInvoice, PaymentStatus};
use kernel::{Actor, Clock, ManualClock};
use store::testing::TestStore;
use store::StoreError;

mod common;

use common::EUR;

store::on_both_stores!(records_go_five_years_after_the_relationship_ends);

const DAY_MS: i64 = 86_400_000;

async fn pay_own_invoice(
    gateway: &Gateway,
    actor: &Actor,
    (from, to): (&str, &str),
    amount_msat: u64,
) -> Result<gateway::Accepted, GatewayError> {
    let invoice = gateway
        .create_invoice(
            actor,
            NewInvoice {
                account_id: to.to_string(),
                amount_msat,
                description: "supplies".into(),
                expiry_secs: Some(600),
                payer: None,
            },
        )
        .await
        .expect("invoice");
    common::pay(gateway, actor, from, invoice.bolt11).await
}

async fn count(store: &store::Store, query: &'static str, id: String) -> u64 {
    store
        .read(move |sql| sql.query_one(query, &[id.as_str().into()])?.u64("n"))
        .await
        .map_err(|e: StoreError| e)
        .expect("count")
}

async fn records_go_five_years_after_the_relationship_ends(t: TestStore) {
    let start_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis() as i64;
    let clock = Arc::new(ManualClock::new(start_ms));
    let world = common::world(t.store.clone(), clock.clone()).await;
    let gateway = world.gateway.clone();
    let officer = Actor::system("officer");
    let treasury = world.treasury(&officer).await;
    let dd = gateway.due_diligence();
    let customer = dd
        .create(
            &officer,
            NewCustomer {
                tenant_id: "treasury".into(),
                name: "Erika Mustermann".into(),
                kind: "person".into(),
                country: "DE".into(),
                business_type: "software".into(),
                expected_monthly_eur_cents: 2_000_000,
                source_of_funds: "salary".into(),
            },
        )
        .await
        .expect("customer");
    let verified = CustomerChange {
        kyc_status: Some("verified".into()),
        ..CustomerChange::default()
    };
    dd.update(&officer, &customer.id, verified)
        .await
        .expect("verified");
    let client = gateway
        .create_customer_account(&officer, "treasury", "client", Some(&customer.id))
        .await
        .expect("client account");
    world.fund(&officer, &client.id, 8_000 * EUR).await;
    // A 6,000 EUR payment is held and released (a decided alert: the assessment), and
    // a small one goes at once.
    let held = pay_own_invoice(&gateway, &officer, (&client.id, &treasury.id), 6_000 * EUR)
        .await
        .expect("accepted");
    assert_eq!(held.status, PaymentStatus::HeldForReview);
    let alerts = gateway
        .alerts(AlertFilter {
            payment_id: Some(held.id.clone()),
            limit: 10,
            ..AlertFilter::default()
        })
        .await
        .expect("alerts");
    // Not while money of the customer is on its way.
    let busy = dd.end_relationship(&officer, &customer.id, "closing").await;
    assert!(
        matches!(
            busy,
            Err(ComplianceError::InvalidField {
                field: "customer",
                ..
            })
        ),
        "{busy:?}"
    );
    gateway
        .decide_alert(&officer, &alerts[0].id, AlertDecision::Release, "checked")
        .await
        .expect("released");
    let small = pay_own_invoice(&gateway, &officer, (&client.id, &treasury.id), 100 * EUR)
        .await
        .expect("accepted");
    assert_eq!(small.status, PaymentStatus::Succeeded);
    // The treasury (no customer) pays the client: the treasury's payment stays.
    let theirs = pay_own_invoice(&gateway, &officer, (&treasury.id, &client.id), 50 * EUR)
        .await
        .expect("accepted");
    assert_eq!(theirs.status, PaymentStatus::Succeeded);

    // An officer keeps the released alert in an open case.
    let case = gateway
        .open_case(
            &officer,
            vec![alerts[0].id.clone()],
            Some(customer.id.clone()),
        )
        .await
        .expect("case");
    // The relationship ends: final, and the account sends nothing more.
    let ended = dd
        .end_relationship(
            &officer,
            &customer.id,
            "  account closed at the customer's request ",
        )
        .await
        .expect("ended");
    assert_eq!(ended.relationship_ended_at_ms, Some(clock.now_ms()));
    for again in [
        dd.end_relationship(&officer, &customer.id, "again")
            .await
            .map(|_| ()),
        dd.update(&officer, &customer.id, CustomerChange::default())
            .await
            .map(|_| ()),
    ] {
        assert!(
            matches!(again, Err(ComplianceError::RelationshipEnded)),
            "{again:?}"
        );
    }
    assert!(matches!(
        dd.end_relationship(&officer, &customer.id, " ").await,
        Err(ComplianceError::InvalidField {
            field: "reason",
            ..
        })
    ));
    let refused = pay_own_invoice(&gateway, &officer, (&client.id, &treasury.id), 10 * EUR).await;
    assert!(
        matches!(
            refused,
            Err(GatewayError::Compliance(ComplianceError::RelationshipEnded))
        ),
        "{refused:?}"
    );

    let payments = "SELECT COUNT(*) AS n FROM payments WHERE account_id = $1";
    let invoices = "SELECT COUNT(*) AS n FROM invoices WHERE account_id = $1";
    let alerts_of = "SELECT COUNT(*) AS n FROM aml_alerts WHERE customer_id = $1";
    let postings = "SELECT COUNT(*) AS n FROM postings WHERE account_id = $1";
    let before = (
        count(&t.store, payments, client.id.clone()).await,
        count(&t.store, invoices, client.id.clone()).await,
        count(&t.store, alerts_of, customer.id.clone()).await,
        count(&t.store, postings, client.id.clone()).await,
    );
    assert!(
        before.0 >= 2 && before.1 >= 2 && before.2 >= 1 && before.3 > 0,
        "{before:?}"
    );
    let treasury_payments = count(&t.store, payments, treasury.id.clone()).await;

    // A day short of five years: nothing goes (the clock is moved, nothing slept).
    let ended_at = ended.relationship_ended_at_ms.expect("ended");
    let due_at = compliance::retention::purge_after_ms(ended_at, 5);
    assert!(due_at - ended_at >= 5 * 365 * DAY_MS);
    clock.advance_ms(due_at - clock.now_ms() - DAY_MS);
    assert_eq!(gateway.purge_expired_records(100).await.expect("purge"), 0);
    assert_eq!(count(&t.store, payments, client.id.clone()).await, before.0);

    // Five years: one bounded step at a time until nothing is left.
    clock.advance_ms(DAY_MS);
    let mut steps = 0;
    let mut deleted = 0;
    loop {
        let gone = gateway.purge_expired_records(1).await.expect("purge");
        steps += 1;
        if gone == 0 || steps > 50 {
            break;
        }
        assert!(gone <= compliance::retention::DELETE_BATCH as u64);
        deleted += gone;
    }
    assert!(steps > 3, "one bounded step per transaction: {steps}");
    assert!(deleted >= before.0 + before.1, "{deleted}");
    assert_eq!(count(&t.store, payments, client.id.clone()).await, 0);
    assert_eq!(count(&t.store, invoices, client.id.clone()).await, 0);
    assert_eq!(
        count(&t.store, alerts_of, customer.id.clone()).await,
        1,
        "the open case keeps its alert"
    );
    let kept = dd.get(&customer.id).await.expect("customer");
    assert_eq!(
        (kept.name.as_str(), kept.purged_at_ms),
        ("Erika Mustermann", None)
    );
    // The case closes now: its own five years start.
    let closed = compliance::CaseChange {
        state: Some("closed_no_action".into()),
        owner: None,
        reason: "relationship over, nothing to report".into(),
    };
    gateway
        .change_case(&officer, &case.id, closed)
        .await
        .expect("closed");
    clock.advance_ms(DAY_MS);
    assert_eq!(gateway.purge_expired_records(100).await.expect("purge"), 0);
    assert_eq!(count(&t.store, alerts_of, customer.id.clone()).await, 1);
    clock.advance_ms(5 * 366 * DAY_MS);
    while gateway.purge_expired_records(1).await.expect("purge") > 0 {}
    assert_eq!(count(&t.store, alerts_of, customer.id.clone()).await, 0);
    let cases_of = "SELECT COUNT(*) AS n FROM aml_cases WHERE customer_id = $1";
    assert_eq!(count(&t.store, cases_of, customer.id.clone()).await, 0);
    assert_eq!(
        count(&t.store, postings, client.id.clone()).await,
        before.3,
        "the ledger's postings stay: every other account's books rest on them"
    );
    assert_eq!(
        count(&t.store, payments, treasury.id.clone()).await,
        treasury_payments,
        "another account's records stay"
    );
    let purged = dd.get(&customer.id).await.expect("customer");
    assert_eq!(
        (
            purged.name.as_str(),
            purged.country.as_str(),
            purged.source_of_funds.as_str()
        ),
        ("", "", "")
    );
    assert_eq!(purged.purged_at_ms, Some(clock.now_ms()));
    assert_eq!(gateway.purge_expired_records(100).await.expect("purge"), 0);
    let audited = count(
        &t.store,
        "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'customer.purge' AND target = $1",
        format!("customer:{}", customer.id),
    )
    .await;
    assert_eq!(audited, 1, "purged once, audited once");
    let books = gateway.check_books().await.expect("books");
    assert!(
        books.ledger.is_balanced(),
        "the books balance after the purge"
    );
    world.lab.shutdown().await.expect("lab down");
}
