//! Per-tenant daily call counts on both stores: two replicas sharing the count through
//! flushes, the quota refusing (and not counting) calls, and a new UTC day starting over.

use access::{Admission, Usage, UsageConfig};
use store::testing::TestStore;

store::on_both_stores!(counts_are_shared_per_day_and_quotas_hold,);

const DAY_MS: i64 = 86_400_000;
/// 2026-11-24T23:59:00Z.
const LATE: i64 = 1_795_564_740_000;

async fn counts_are_shared_per_day_and_quotas_hold(t: TestStore) {
    let config = UsageConfig {
        default_daily_calls: Some(5),
        flush_interval_ms: 10_000,
        ..UsageConfig::default()
    };
    let (one, two) = (
        Usage::new(t.store.clone(), config.clone()),
        Usage::new(t.store.clone(), config),
    );
    for _ in 0..3 {
        assert_eq!(
            one.admit("acme", LATE).await.expect("admit"),
            Admission::Allowed
        );
    }
    assert!(
        one.flush_due(LATE) && !one.flush_due(LATE + 1),
        "one flush per interval"
    );
    one.flush().await.expect("flush");
    // The second replica starts from the shared count: two more, then refused.
    for _ in 0..2 {
        assert_eq!(
            two.admit("acme", LATE).await.expect("admit"),
            Admission::Allowed
        );
    }
    let refused = two.admit("acme", LATE).await.expect("admit");
    assert_eq!(
        refused,
        Admission::OverQuota {
            quota: 5,
            retry_after_ms: 60_000
        }
    );
    two.flush().await.expect("flush");
    // A new UTC day starts over.
    assert_eq!(
        two.admit("acme", LATE + 60_000).await.expect("admit"),
        Admission::Allowed
    );
    two.flush().await.expect("flush");
    let days = one
        .daily("acme", "2026-11-24", "2026-11-25")
        .await
        .expect("daily");
    assert_eq!(
        days,
        [("2026-11-24".to_string(), 5), ("2026-11-25".to_string(), 1)]
    );
    assert!(one
        .daily("globex", "2026-11-24", "2026-11-25")
        .await
        .expect("daily")
        .is_empty());
    assert_eq!(
        LATE.div_euclid(DAY_MS) + 1,
        (LATE + 60_000).div_euclid(DAY_MS)
    );
}
