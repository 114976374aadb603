//! Transaction monitoring in the payment pipeline, on both stores over a real node: a
//! 6,000 EUR payment is held for review with its funds held and nothing sent, released by
//! an officer (then settled) or rejected (its hold released, carol never paid); the third
//! of three 4,500 EUR payments is held as structuring; a rule configured to block refuses
//! the payment, records nothing of it, and keeps its alert. Received money is judged too:
//! 60,000 EUR arriving at once waits in suspense until an officer releases it.

use std::sync::Arc;

use aml::{Decision, RuleParams, RuleSet};
use compliance::{AlertDecision, AlertFilter, AlertState, ComplianceError};
use gateway::{Gateway, GatewayError, NewInvoice, PaymentStatus};
use kernel::{Actor, Scope, SystemClock};
use node_pool::LightningNode;
use store::testing::TestStore;

mod common;

use common::EUR;

store::on_both_stores!(payments_are_held_released_rejected_and_blocked_by_the_rules);

async fn own_invoice(gateway: &Gateway, account_id: &str, amount_msat: u64) -> String {
    gateway
        .create_invoice(
            &Actor::system("test"),
            NewInvoice {
                account_id: account_id.to_string(),
                amount_msat,
                description: "supplier".into(),
                expiry_secs: Some(600),
                payer: None,
            },
        )
        .await
        .expect("invoice")
        .bolt11
}

async fn pay(
    gateway: &Gateway,
    account_id: &str,
    bolt11: String,
) -> Result<gateway::Accepted, GatewayError> {
    common::pay(gateway, &Actor::system("test"), account_id, bolt11).await
}

async fn open_alerts(gateway: &Gateway, payment_id: &str) -> Vec<compliance::Alert> {
    gateway
        .alerts(AlertFilter {
            payment_id: Some(payment_id.to_string()),
            state: Some(AlertState::Open),
            limit: 100,
            ..AlertFilter::default()
        })
        .await
        .expect("alerts")
}

async fn payments_are_held_released_rejected_and_blocked_by_the_rules(t: TestStore) {
    let world = common::world(t.store.clone(), Arc::new(SystemClock)).await;
    let gateway = world.gateway.clone();
    let officer = Actor::system("officer");
    let payer = world.treasury(&officer).await;
    let payee = gateway
        .create_account(&officer, "treasury", "suppliers")
        .await
        .expect("payee");
    // 60,000 EUR arrive at once: held in suspense (a large receipt, and above the daily
    // aggregate), not the account's until released. `fund` releases it as an officer.
    let suspense_before = gateway
        .account(&Scope::All, gateway::SUSPENSE_ACCOUNT)
        .await
        .expect("suspense")
        .balance_msat;
    world.fund(&officer, &payer.id, 60_000 * EUR).await;
    let received = gateway
        .alerts(AlertFilter {
            limit: 100,
            ..AlertFilter::default()
        })
        .await
        .expect("alerts");
    let mut rules: Vec<&str> = received.iter().map(|a| a.draft.rule.as_str()).collect();
    rules.sort_unstable();
    assert_eq!(rules, ["daily_aggregate", "large_payment"], "{received:?}");
    assert!(received
        .iter()
        .all(|a| a.draft.direction == Some(aml::Direction::In)
            && a.invoice_id.is_some()
            && a.state == AlertState::Released));
    assert_eq!(
        gateway
            .account(&Scope::All, gateway::SUSPENSE_ACCOUNT)
            .await
            .expect("suspense")
            .balance_msat,
        suspense_before,
        "released from suspense to the account"
    );
    let available = |id: String| {
        let gateway = gateway.clone();
        async move {
            gateway
                .account(&Scope::All, &id)
                .await
                .expect("account")
                .available_msat()
        }
    };

    // 6,000 EUR to one of our own invoices: held, funds held, nothing settled.
    let bolt11 = own_invoice(&gateway, &payee.id, 6_000 * EUR).await;
    let held = pay(&gateway, &payer.id, bolt11).await.expect("accepted");
    assert_eq!(held.status, PaymentStatus::HeldForReview);
    assert_eq!(
        gateway
            .payment(&Scope::All, &held.id)
            .await
            .expect("payment")
            .status,
        PaymentStatus::HeldForReview
    );
    assert_eq!(
        available(payer.id.clone()).await,
        (60_000 * EUR - 6_000 * EUR - 6_000 * EUR / 100) as i64,
        "the amount and the maximum fee (1%) are held"
    );
    assert_eq!(world.balance(&payee.id).await, 0);
    let alerts = open_alerts(&gateway, &held.id).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].draft.rule, "large_payment");
    assert_eq!(alerts[0].draft.eur_cents, 600_000);
    assert!(alerts[0].draft.eur_rate.contains("fixed:test"));
    // A reason is required; a release settles it.
    assert!(matches!(
        gateway
            .decide_alert(&officer, &alerts[0].id, AlertDecision::Release, " ")
            .await,
        Err(GatewayError::Compliance(ComplianceError::InvalidField {
            field: "reason",
            ..
        }))
    ));
    let released = gateway
        .decide_alert(
            &officer,
            &alerts[0].id,
            AlertDecision::Release,
            "invoice checked",
        )
        .await
        .expect("released");
    assert_eq!(released.state, AlertState::Released);
    assert_eq!(
        gateway
            .payment(&Scope::All, &held.id)
            .await
            .expect("payment")
            .status,
        PaymentStatus::Succeeded
    );
    assert_eq!(world.balance(&payee.id).await, (6_000 * EUR) as i64);
    assert!(matches!(
        gateway
            .decide_alert(
                &officer,
                &alerts[0].id,
                AlertDecision::Reject,
                "changed my mind"
            )
            .await,
        Err(GatewayError::Compliance(ComplianceError::AlertDecided(
            "released"
        )))
    ));

    // 6,000 EUR to carol over Lightning: held, then rejected; carol is never paid.
    let carol = world.lab.node("carol").expect("carol");
    let to_carol = carol
        .create_invoice(6_000 * EUR, "big", 600)
        .await
        .expect("carol's invoice");
    let before = available(payer.id.clone()).await;
    let held = pay(&gateway, &payer.id, to_carol.bolt11.clone())
        .await
        .expect("accepted");
    assert_eq!(held.status, PaymentStatus::HeldForReview);
    // The reconciler leaves a held payment alone (nothing may execute it).
    let round = gateway
        .reconcile_payments(0, 64, true)
        .await
        .expect("reconciles");
    assert_eq!((round.looked_at, round.resent), (0, 0), "{round:?}");
    let alert = open_alerts(&gateway, &held.id).await.remove(0);
    gateway
        .decide_alert(
            &officer,
            &alert.id,
            AlertDecision::Reject,
            "unknown supplier",
        )
        .await
        .expect("rejected");
    let rejected = gateway
        .payment(&Scope::All, &held.id)
        .await
        .expect("payment");
    assert_eq!(rejected.status, PaymentStatus::Rejected);
    assert_eq!(
        rejected.failure_code.as_deref(),
        Some("compliance_rejected")
    );
    assert_eq!(
        rejected.failure_reason.as_deref(),
        Some("this payment cannot be made"),
        "nothing that tips the customer off"
    );
    assert_eq!(
        available(payer.id.clone()).await,
        before,
        "the hold is released"
    );

    // Three payments of 4,500 EUR: the third is structuring.
    let mut statuses = Vec::new();
    let mut last = String::new();
    for _ in 0..3 {
        let bolt11 = own_invoice(&gateway, &payee.id, 4_500 * EUR).await;
        let accepted = pay(&gateway, &payer.id, bolt11).await.expect("accepted");
        statuses.push(accepted.status);
        last = accepted.id;
    }
    assert_eq!(
        statuses,
        [
            PaymentStatus::Succeeded,
            PaymentStatus::Succeeded,
            PaymentStatus::HeldForReview
        ]
    );
    let structuring = open_alerts(&gateway, &last).await;
    assert_eq!(structuring.len(), 1, "{structuring:?}");
    assert_eq!(structuring[0].draft.rule, "structuring");
    assert!(
        structuring[0]
            .draft
            .evidence
            .starts_with("3 payments between"),
        "{}",
        structuring[0].draft.evidence
    );

    // Two officers put rules that block large payments in force on another replica (its
    // own configured rules count for nothing: the store has a version in force); the
    // next payment on this one is refused, nothing of it stored, its alert kept under
    // the new version.
    let other_store = t.second_handle().await.expect("second handle");
    let configured = RuleSet {
        large_payment: RuleParams {
            enabled: false,
            decision: Decision::Review,
        },
        ..RuleSet::default()
    };
    let other = common::replica(
        other_store,
        &gateway,
        gateway::GatewayConfig {
            monitoring_rules: configured,
            ..gateway::GatewayConfig::default()
        },
    )
    .await;
    // Its configured set shares the number 1 but counts for nothing: the store's v1
    // holds large payments there too.
    let bolt11 = own_invoice(&gateway, &payee.id, 6_000 * EUR).await;
    let held_there = pay(&other, &payer.id, bolt11).await.expect("accepted");
    assert_eq!(held_there.status, PaymentStatus::HeldForReview);
    let (alice, bob) = (common::officer("alice"), common::officer("bob"));
    let block_large = serde_json::json!({"large_payment": {"decision": "block"}});
    let proposed = other
        .propose_rules(
            &alice,
            block_large.as_object().cloned().expect("object"),
            "block large payments".into(),
        )
        .await
        .expect("proposed");
    assert!(matches!(
        other.approve_rules(&alice, proposed.version).await,
        Err(GatewayError::Compliance(
            ComplianceError::SecondPersonRequired
        ))
    ));
    other
        .approve_rules(&bob, proposed.version)
        .await
        .expect("in force");
    let payments_before = common::payments_recorded(&t.store).await;
    let bolt11 = own_invoice(&gateway, &payee.id, 7_000 * EUR).await;
    let blocked = pay(&gateway, &payer.id, bolt11).await;
    assert!(
        matches!(
            blocked,
            Err(GatewayError::Compliance(ComplianceError::Blocked))
        ),
        "{blocked:?}"
    );
    assert_eq!(
        common::payments_recorded(&t.store).await,
        payments_before,
        "a blocked payment is not recorded"
    );
    let all = gateway
        .alerts(AlertFilter {
            limit: 100,
            ..AlertFilter::default()
        })
        .await
        .expect("alerts");
    let block = &all[0];
    assert_eq!(
        (
            block.draft.rule.as_str(),
            block.draft.decision,
            block.payment_id.as_deref()
        ),
        ("large_payment", Decision::Block, None)
    );
    assert_eq!(block.draft.eur_cents, 700_000);
    assert_eq!(i64::from(block.draft.rule_version), proposed.version);
    assert!(
        all[1..].iter().all(|a| a.draft.rule_version == 1),
        "earlier alerts keep the version they were raised under"
    );
    world.lab.shutdown().await.expect("lab down");
}
