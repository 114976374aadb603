//! The SLA report covers every replica and only the minutes of each window: two replicas
//! on one database count into the same rows, and moving the injected clock moves events
//! out of the short windows while the 30-day budget keeps them.

use std::sync::Arc;

use kernel::ManualClock;
use ops::{SlaReport, Sli, Slo, SloConfig, SloWindow};
use store::testing::TestStore;

/// 2026-12-05T12:00:00Z.
const NOON_MS: i64 = 1_796_472_000_000;
const MINUTE_MS: i64 = 60_000;

store::on_both_stores!(two_replicas_count_into_one_report);

fn window<'a>(report: &'a SlaReport, slo: Slo, name: &str) -> &'a SloWindow {
    report
        .slos
        .iter()
        .find(|r| r.slo == slo)
        .and_then(|r| r.windows.iter().find(|w| w.window == name))
        .expect("every SLO has every window")
}

async fn two_replicas_count_into_one_report(t: TestStore) {
    let clock = Arc::new(ManualClock::new(NOON_MS));
    let config = SloConfig::default();
    let one = Sli::new(t.store.clone(), clock.clone(), config.clone());
    let other_store = t.second_handle().await.expect("second handle");
    let other = Sli::new(other_store, clock.clone(), config.clone());

    // An hour ago: 3 good payments on one replica, 1 failed on the other.
    let hour_ago = NOON_MS - 60 * MINUTE_MS + 1;
    for _ in 0..3 {
        one.record(Slo::Availability, true, hour_ago);
    }
    other.record(Slo::Availability, false, hour_ago);
    // Now: an invoice within its 500 ms and one over it, on different replicas.
    one.record_latency(Slo::InvoiceLatency, config.invoice_latency_ms, NOON_MS);
    other.record_latency(Slo::InvoiceLatency, config.invoice_latency_ms + 1, NOON_MS);
    other.flush().await.expect("flush");

    // The report flushes its own replica first, and reads the other's rows.
    let report = one.report().await.expect("report");
    let recent = window(&report, Slo::Availability, "5m");
    assert_eq!(
        (recent.good, recent.total),
        (0, 0),
        "an hour ago is not in 5 minutes"
    );
    let day = window(&report, Slo::Availability, "6h");
    assert_eq!((day.good, day.total), (3, 4));
    assert_eq!(day.attainment, Some(0.75));
    let invoices = window(&report, Slo::InvoiceLatency, "5m");
    assert_eq!((invoices.good, invoices.total), (1, 2));
    let availability = report
        .slos
        .iter()
        .find(|r| r.slo == Slo::Availability)
        .expect("availability");
    assert!(!availability.met, "75% misses 99.99%");
    let api = report
        .slos
        .iter()
        .find(|r| r.slo == Slo::ApiLatency)
        .expect("api");
    assert!(
        api.met && api.error_budget_remaining.is_none(),
        "no events: met, no budget"
    );

    // A flush adds to the rows rather than replacing them.
    one.record(Slo::Availability, true, hour_ago);
    clock.advance_ms(2 * 60 * MINUTE_MS);
    let later = one.report().await.expect("report");
    let six_hours = window(&later, Slo::Availability, "6h");
    assert_eq!((six_hours.good, six_hours.total), (4, 5));
    let hour = window(&later, Slo::Availability, "1h");
    assert_eq!(hour.total, 0, "three hours ago is not in the last hour");
    assert_eq!(window(&later, Slo::Availability, "30d").total, 5);
}
