//! Monitoring rule set versions on both stores: the configured set is the first version;
//! a change is proposed by one officer (merged over the version in force) and in force
//! only once a second person approves it (not the proposer, a key the proposer minted, or
//! the machine), and only while the version it was based on is still in force; hostile
//! changes are refused by name and store nothing; every step is audited. Two officers
//! approving two proposals at once on two store handles: one is in force, the other is
//! told it is stale.

use aml::{Decision, RuleSet};
use compliance::rule_sets::{self, RuleSetVersion};
use compliance::{ComplianceError, RuleSetState};
use kernel::{Actor, Scope};
use serde_json::{json, Map, Value};
use store::testing::TestStore;
use store::{Store, StoreError};

store::on_both_stores!(
    a_rule_change_needs_a_second_person_and_the_version_it_was_based_on,
    hostile_rule_changes_are_refused_by_name_and_store_nothing,
    two_officers_approving_at_once_put_one_version_in_force
);

const NOW_MS: i64 = 1_796_472_000_000;

/// An officer: own credential, subject and identity.
fn officer(name: &str) -> Actor {
    let mut actor = Actor::system("test");
    actor.origin.actor_id = format!("key_{name}");
    actor.origin.subject = name.to_string();
    actor.identity = format!("key_{name}");
    actor
}

fn changes(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

async fn seeded(store: &Store) {
    let seeded = store
        .write(|sql| rule_sets::seed(sql, &RuleSet::default(), NOW_MS))
        .await
        .expect("seed");
    assert!(seeded, "the configured set is the first version");
}

async fn propose(
    store: &Store,
    actor: &Actor,
    change: Value,
    reason: &str,
) -> Result<RuleSetVersion, ComplianceError> {
    let (actor, change, reason) = (actor.clone(), changes(change), reason.to_string());
    store
        .write(move |sql| rule_sets::propose(sql, &actor, &change, &reason, NOW_MS))
        .await
}

async fn approve(
    store: &Store,
    actor: &Actor,
    version: i64,
) -> Result<RuleSetVersion, ComplianceError> {
    let actor = actor.clone();
    store
        .write(move |sql| rule_sets::approve(sql, &actor, version, NOW_MS))
        .await
}

async fn versions(store: &Store) -> Vec<RuleSetVersion> {
    store
        .read(|sql| rule_sets::versions(sql))
        .await
        .map_err(|e: StoreError| e)
        .expect("versions")
}

async fn a_rule_change_needs_a_second_person_and_the_version_it_was_based_on(t: TestStore) {
    let store = t.store.clone();
    seeded(&store).await;
    let again = store
        .write(|sql| rule_sets::seed(sql, &RuleSet::default(), NOW_MS))
        .await
        .expect("seed");
    assert!(!again, "a later start changes nothing");
    let (alice, bob) = (officer("alice"), officer("bob"));
    let proposed = propose(
        &store,
        &alice,
        json!({"large_payment_eur_cents": 1_000_000, "structuring": {"decision": "block"}}),
        "  raise the single-payment threshold; block structuring  ",
    )
    .await
    .expect("proposed");
    assert_eq!(
        (proposed.version, proposed.state, proposed.based_on),
        (2, RuleSetState::Proposed, Some(1))
    );
    assert_eq!(proposed.rules.version, 2, "the body carries its number");
    assert_eq!(proposed.rules.large_payment_eur_cents, 1_000_000);
    assert_eq!(proposed.rules.structuring.decision, Decision::Block);
    assert!(
        proposed.rules.structuring.enabled,
        "what was not named stays"
    );
    assert_eq!(
        proposed.rules.daily_aggregate_eur_cents,
        RuleSet::default().daily_aggregate_eur_cents
    );
    assert_eq!(
        proposed.reason,
        "raise the single-payment threshold; block structuring"
    );
    let in_force = |store: Store| async move {
        store
            .read(|sql| rule_sets::active_version(sql))
            .await
            .map_err(|e: StoreError| e)
            .expect("active")
    };
    assert_eq!(
        in_force(store.clone()).await,
        Some(1),
        "not before approval"
    );

    // Not the proposer, not a key the proposer minted (same identity), not the machine.
    let mut minted = officer("alice-bot");
    minted.identity = alice.identity.clone();
    for who in [&alice, &minted, &Actor::system("cli")] {
        let refused = approve(&store, who, 2).await;
        assert!(
            matches!(refused, Err(ComplianceError::SecondPersonRequired)),
            "{}: {refused:?}",
            who.origin.actor_id
        );
    }
    let approved = approve(&store, &bob, 2).await.expect("approved");
    assert_eq!(approved.state, RuleSetState::Active);
    assert_eq!(approved.approved_by.as_deref(), Some("key_bob"));
    assert_eq!(in_force(store.clone()).await, Some(2));
    assert!(matches!(
        approve(&store, &bob, 2).await,
        Err(ComplianceError::RuleSetNotProposed {
            version: 2,
            state: "active"
        })
    ));
    assert!(matches!(
        approve(&store, &bob, 1).await,
        Err(ComplianceError::RuleSetNotProposed {
            version: 1,
            state: "superseded"
        })
    ));
    assert!(matches!(
        approve(&store, &bob, 99).await,
        Err(ComplianceError::UnknownRuleSet(99))
    ));

    // Two proposals against v2: the first approved puts the second out of date (approving
    // it would silently undo the first).
    let three = propose(&store, &alice, json!({"fan_min_counterparties": 30}), "fan")
        .await
        .expect("v3");
    let four = propose(
        &store,
        &bob,
        json!({"dormant": {"enabled": false}}),
        "dormant",
    )
    .await
    .expect("v4");
    approve(&store, &bob, three.version)
        .await
        .expect("v3 in force");
    assert!(matches!(
        approve(&store, &alice, four.version).await,
        Err(ComplianceError::RuleSetStale {
            version: 4,
            in_force: 3
        })
    ));
    let states: Vec<(i64, RuleSetState)> = versions(&store)
        .await
        .iter()
        .map(|v| (v.version, v.state))
        .collect();
    assert_eq!(
        states,
        [
            (4, RuleSetState::Proposed),
            (3, RuleSetState::Active),
            (2, RuleSetState::Superseded),
            (1, RuleSetState::Superseded)
        ]
    );

    let audited = store
        .read(|sql| {
            let rows = sql.query(
                "SELECT action, target FROM audit_log WHERE action LIKE 'aml_rules.%' ORDER BY seq",
                &[],
            )?;
            rows.iter()
                .map(|r| Ok(format!("{} {}", r.text("action")?, r.text("target")?)))
                .collect::<Result<Vec<_>, StoreError>>()
        })
        .await
        .expect("audit");
    assert_eq!(
        audited,
        [
            "aml_rules.seed v1",
            "aml_rules.propose v2",
            "aml_rules.approve v2",
            "aml_rules.propose v3",
            "aml_rules.propose v4",
            "aml_rules.approve v3"
        ]
    );
}

async fn hostile_rule_changes_are_refused_by_name_and_store_nothing(t: TestStore) {
    let store = t.store.clone();
    seeded(&store).await;
    let alice = officer("alice");
    let refused = [
        (json!({}), "names no parameter"),
        (
            json!({"large_payment_eur_cent": 1}),
            "no rule parameter \"large_payment_eur_cent\"",
        ),
        (json!({"version": 7}), "numbered by the store"),
        (
            json!({"large_payment_eur_cents": "lots"}),
            "large_payment_eur_cents: not a value",
        ),
        (
            json!({"large_payment_eur_cents": -1}),
            "large_payment_eur_cents: not a value",
        ),
        (
            json!({"large_payment_eur_cents": 1e20}),
            "large_payment_eur_cents: not a value",
        ),
        (
            json!({"large_payment_eur_cents": 0}),
            "large_payment_eur_cents: from 1",
        ),
        (
            json!({"daily_aggregate_eur_cents": 18_446_744_073_709_551_615u64}),
            "daily_aggregate_eur_cents: from 1",
        ),
        (
            json!({"large_payment": {"mode": "x"}}),
            "large_payment has no \"mode\"",
        ),
        (
            json!({"large_payment": {"decision": "nuke"}}),
            "large_payment: not a value",
        ),
        (json!({"large_payment": true}), "large_payment: not a value"),
        (
            json!({"structuring_window_ms": 0}),
            "structuring_window_ms: from 60000",
        ),
        (
            json!({"structuring_window_ms": 31 * 86_400_000i64}),
            "structuring_window_ms",
        ),
        (
            json!({"structuring_near_permille": 1001}),
            "structuring_near_permille",
        ),
        (json!({"anomaly_deviations": 0.0}), "anomaly_deviations"),
        (
            json!({"structuring_min_payments": 1}),
            "structuring_min_payments",
        ),
    ];
    for (change, says) in refused {
        match propose(&store, &alice, change.clone(), "hostile").await {
            Err(ComplianceError::InvalidField {
                field: "rules",
                reason,
            }) => {
                assert!(reason.contains(says), "{change}: {reason}");
                assert!(
                    !reason.contains("line") && !reason.contains("column"),
                    "no parser text: {reason}"
                );
            }
            other => panic!("{change}: {other:?}"),
        }
    }
    let long = "x".repeat(1_001);
    for reason in ["", "   ", long.as_str()] {
        let refused = propose(
            &store,
            &alice,
            json!({"fan_min_counterparties": 30}),
            reason,
        )
        .await;
        assert!(
            matches!(
                refused,
                Err(ComplianceError::InvalidField {
                    field: "reason",
                    ..
                })
            ),
            "{refused:?}"
        );
    }
    let mut tenant = officer("tenant-admin");
    tenant.scope = Scope::Tenant("t1".into());
    assert!(matches!(
        propose(
            &store,
            &tenant,
            json!({"fan_min_counterparties": 30}),
            "mine"
        )
        .await,
        Err(ComplianceError::InvalidField { field: "rules", .. })
    ));
    assert_eq!(versions(&store).await.len(), 1, "nothing stored");
}

async fn two_officers_approving_at_once_put_one_version_in_force(t: TestStore) {
    let (one, two) = (t.store.clone(), t.second_handle().await.expect("handle"));
    seeded(&one).await;
    let (alice, bob, carol) = (officer("alice"), officer("bob"), officer("carol"));
    for round in 0..5 {
        let a = propose(
            &one,
            &alice,
            json!({"fan_min_counterparties": 21 + round}),
            "a",
        )
        .await
        .expect("a");
        let b = propose(&one, &alice, json!({"velocity_multiple": 6 + round}), "b")
            .await
            .expect("b");
        let (x, y) = tokio::join!(
            approve(&one, &bob, a.version),
            approve(&two, &carol, b.version)
        );
        let outcomes = [x.map(|v| v.version), y.map(|v| v.version)];
        assert_eq!(
            outcomes.iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: {outcomes:?}"
        );
        assert!(
            outcomes
                .iter()
                .any(|r| matches!(r, Err(ComplianceError::RuleSetStale { .. }))),
            "the loser is told why, not a store conflict: {outcomes:?}"
        );
    }
    let active: Vec<i64> = versions(&one)
        .await
        .iter()
        .filter(|v| v.state == RuleSetState::Active)
        .map(|v| v.version)
        .collect();
    assert_eq!(active.len(), 1, "{active:?}");
}
