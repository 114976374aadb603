//! Cases and their reports on both stores: alerts grouped once (a refused case leaves no
//! alert claimed), findings noted, a report drafted once with its due time from the first
//! detection, overdue counted by the clock, filed once with the unit's reference (the case
//! then closes and takes nothing more); every change audited without a tenant. Two
//! officers racing for one alert on two store handles: one case gets it.

use compliance::cases::{self, CaseState};
use compliance::{alerts, AlertDraft, CaseChange, ComplianceError, ReportState};
use kernel::Actor;
use store::testing::TestStore;
use store::{Store, StoreError};

store::on_both_stores!(
    alerts_become_a_case_with_findings_and_one_report,
    two_officers_racing_for_one_alert_put_it_in_one_case
);

/// 2026-12-05T12:00:00Z.
const NOON_MS: i64 = 1_796_472_000_000;
const HOUR_MS: i64 = 3_600_000;

fn officer(id: &str) -> Actor {
    let mut actor = Actor::system("test");
    actor.origin.actor_id = id.to_string();
    actor
}

fn draft(tenant: &str, customer: Option<&str>) -> AlertDraft {
    AlertDraft {
        tenant_id: tenant.into(),
        account_id: format!("acc_{tenant}"),
        customer_id: customer.map(str::to_string),
        direction: Some(aml::Direction::Out),
        rule: "structuring".into(),
        rule_version: 1,
        decision: aml::Decision::Review,
        score: 0.4,
        evidence: "3 payments in [4,000, 5,000) EUR within 24 h".into(),
        eur_cents: 450_000,
        eur_rate: "5000000000 EUR cents per BTC (fixed:test)".into(),
    }
}

async fn alert(store: &Store, id: &str, draft: AlertDraft, at_ms: i64) {
    let id = id.to_string();
    store
        .write(move |sql| alerts::insert(sql, &id, &draft, Some(&format!("pay_{id}")), None, at_ms))
        .await
        .expect("alert");
}

async fn open(
    store: &Store,
    who: &str,
    case_id: &str,
    alert_ids: &[&str],
    customer: Option<&str>,
) -> Result<compliance::Case, ComplianceError> {
    let (actor, case_id) = (officer(who), case_id.to_string());
    let ids: Vec<String> = alert_ids.iter().map(|s| s.to_string()).collect();
    let customer = customer.map(str::to_string);
    store
        .write(move |sql| cases::open(sql, &actor, &case_id, &ids, customer.as_deref(), NOON_MS))
        .await
}

fn code<T: std::fmt::Debug>(r: Result<T, ComplianceError>) -> &'static str {
    r.expect_err("refused").code()
}

async fn alerts_become_a_case_with_findings_and_one_report(t: TestStore) {
    let store = t.store.clone();
    alert(&store, "a1", draft("t1", None), NOON_MS - 2 * HOUR_MS).await;
    alert(&store, "a2", draft("t1", None), NOON_MS - HOUR_MS).await;
    alert(&store, "a3", draft("t1", None), NOON_MS).await;
    alert(&store, "b1", draft("t2", None), NOON_MS).await;
    alert(&store, "c1", draft("t1", Some("cus_1")), NOON_MS).await;
    alert(&store, "c2", draft("t1", Some("cus_2")), NOON_MS).await;

    // Hostile groupings: refused, nothing claimed.
    assert_eq!(
        code(open(&store, "o1", "k0", &[], None).await),
        "invalid_field"
    );
    assert_eq!(
        code(open(&store, "o1", "k0", &["a1", "a1"], None).await),
        "invalid_field"
    );
    assert_eq!(
        code(open(&store, "o1", "k0", &["a1", "nope"], None).await),
        "alert_not_found"
    );
    assert_eq!(
        code(open(&store, "o1", "k0", &["a1", "b1"], None).await),
        "invalid_field"
    );
    assert_eq!(
        code(open(&store, "o1", "k0", &["c1", "c2"], None).await),
        "invalid_field"
    );
    assert_eq!(
        code(open(&store, "o1", "k0", &["a1"], Some("cus_unknown")).await),
        "customer_not_found"
    );
    let too_many: Vec<String> = (0..=cases::MAX_CASE_ALERTS)
        .map(|i| format!("x{i}"))
        .collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    assert_eq!(
        code(open(&store, "o1", "k0", &too_many, None).await),
        "invalid_field"
    );

    let case = open(&store, "o1", "k1", &["a2", "a1"], None)
        .await
        .expect("case");
    assert_eq!(case.state, CaseState::Open);
    assert_eq!(case.owner, "o1");
    assert_eq!(
        case.detected_at_ms,
        NOON_MS - 2 * HOUR_MS,
        "the oldest alert"
    );
    let ids: Vec<&str> = case.alerts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["a1", "a2"], "oldest first");
    // a3 with an alert of another case: refused whole, a3 stays free.
    assert_eq!(
        code(open(&store, "o2", "k2", &["a3", "a2"], None).await),
        "alert_in_case"
    );
    let second = open(&store, "o2", "k2", &["a3"], None)
        .await
        .expect("a3 is free");
    assert_eq!(second.alerts[0].case_id.as_deref(), Some("k2"));

    // Findings: the first moves the case to investigating; control characters refused.
    let note = |body: &'static str, evidence: Option<&'static str>| {
        let store = store.clone();
        async move {
            store
                .write(move |sql| {
                    cases::add_note(sql, &officer("o1"), "k1", body, evidence, NOON_MS)
                })
                .await
        }
    };
    assert_eq!(code(note("\u{1b}[2J", None).await), "invalid_field");
    assert_eq!(code(note("   ", None).await), "invalid_field");
    let case = note("Payments split just under 5,000 EUR.", Some("sha256:ab12"))
        .await
        .expect("note");
    assert_eq!(case.state, CaseState::Investigating);
    assert_eq!(
        (case.notes[0].seq, case.notes[0].author.as_str()),
        (1, "o1")
    );
    assert_eq!(case.notes[0].evidence.as_deref(), Some("sha256:ab12"));

    let change = |state: Option<&'static str>, owner: Option<&'static str>| {
        let store = store.clone();
        async move {
            let change = CaseChange {
                state: state.map(str::to_string),
                owner: owner.map(str::to_string),
                reason: "for the record".into(),
            };
            store
                .write(move |sql| cases::change(sql, &officer("o1"), "k1", &change, NOON_MS))
                .await
        }
    };
    assert_eq!(
        code(change(Some("closed_reported"), None).await),
        "invalid_field"
    );
    assert_eq!(code(change(None, None).await), "invalid_field");
    let handed = change(None, Some("o3")).await.expect("handed over");
    assert_eq!(handed.owner, "o3");

    // The report: due 24 h after the first detection; drafted once.
    let draft_report = |id: &'static str| {
        let store = store.clone();
        async move {
            store
                .write(move |sql| {
                    cases::draft_report(sql, &officer("o3"), "k1", id, 24 * HOUR_MS, NOON_MS)
                })
                .await
        }
    };
    let (report, created) = draft_report("sar1").await.expect("drafted");
    assert!(created);
    assert_eq!(report.due_at_ms, NOON_MS + 22 * HOUR_MS);
    let (again, created) = draft_report("sar2").await.expect("the same");
    assert!(!created);
    assert_eq!(again.id, "sar1");
    assert_eq!(
        code(change(Some("closed_no_action"), None).await),
        "report_pending",
        "a drafted report is filed, not dropped by closing the case"
    );

    let overdue = |at_ms: i64| {
        let store = store.clone();
        async move {
            store
                .read(move |sql| cases::overdue_reports(sql, at_ms))
                .await
                .expect("count")
        }
    };
    assert_eq!(overdue(report.due_at_ms).await, 0);
    assert_eq!(overdue(report.due_at_ms + 1).await, 1);

    let file = |reference: &'static str| {
        let store = store.clone();
        async move {
            store
                .write(move |sql| {
                    cases::file_report(
                        sql,
                        &officer("o3"),
                        "k1",
                        reference,
                        "{}",
                        NOON_MS + HOUR_MS,
                    )
                })
                .await
        }
    };
    assert_eq!(code(file("").await), "invalid_field");
    assert_eq!(code(file("FIU\u{0}1").await), "invalid_field");
    let filed = file("FIU-2026-0042").await.expect("filed");
    assert_eq!(filed.state, ReportState::Filed);
    assert_eq!(filed.reference.as_deref(), Some("FIU-2026-0042"));
    assert_eq!(code(file("FIU-2026-0043").await), "report_filed");
    assert_eq!(overdue(report.due_at_ms + 1).await, 0);
    let case = store
        .read(|sql| cases::get(sql, "k1"))
        .await
        .expect("read")
        .expect("case");
    assert_eq!(case.state, CaseState::ClosedReported);
    assert_eq!(case.closed_at_ms, Some(NOON_MS + HOUR_MS));
    assert_eq!(code(note("late", None).await), "case_closed");
    assert_eq!(
        code(change(Some("investigating"), None).await),
        "case_closed"
    );

    // A case without a report may close as a false positive.
    let store2 = store.clone();
    let closed = store2
        .write(|sql| {
            cases::change(
                sql,
                &officer("o2"),
                "k2",
                &CaseChange {
                    state: Some("closed_false_positive".into()),
                    owner: None,
                    reason: "a known supplier".into(),
                },
                NOON_MS,
            )
        })
        .await
        .expect("closed");
    assert_eq!(closed.state, CaseState::ClosedFalsePositive);
    let listed = store
        .read(|sql| cases::list(sql, Some(CaseState::ClosedFalsePositive), None, 10))
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);

    // Audited, and never in a tenant's view (tipping off).
    let rows = store
        .read(|sql| {
            sql.query(
                "SELECT action, tenant_id FROM audit_log WHERE action LIKE 'case.%' ORDER BY seq",
                &[],
            )
        })
        .await
        .expect("audit");
    let actions: Vec<&str> = rows
        .iter()
        .map(|r| r.text("action").expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "case.open",
            "case.open",
            "case.note",
            "case.update",
            "case.report_draft",
            "case.report_filed",
            "case.update"
        ]
    );
    assert!(rows
        .iter()
        .all(|r| r.opt_text("tenant_id").expect("tenant").is_none()));
}

async fn two_officers_racing_for_one_alert_put_it_in_one_case(t: TestStore) {
    let (one, two) = (t.store.clone(), t.second_handle().await.expect("handle"));
    for round in 0..10 {
        let alert_id = format!("r{round}");
        alert(&one, &alert_id, draft("t1", None), NOON_MS).await;
        let (ka, kb, ids) = (
            format!("ka{round}"),
            format!("kb{round}"),
            [alert_id.as_str()],
        );
        let (a, b) = tokio::join!(
            open(&one, "o1", &ka, &ids, None),
            open(&two, "o2", &kb, &ids, None),
        );
        let outcomes = [a.map(|_| ()), b.map(|_| ())];
        let won = outcomes.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {outcomes:?}");
        assert!(outcomes
            .iter()
            .any(|r| matches!(r, Err(ComplianceError::AlertInCase(_)))));
    }
    let claimed = one
        .read(|sql| {
            sql.query_one("SELECT COUNT(*) AS n FROM aml_cases", &[])?
                .u64("n")
        })
        .await
        .map_err(|e: StoreError| e)
        .expect("count");
    assert_eq!(
        claimed, 10,
        "the losing case was not kept without its alert"
    );
}
