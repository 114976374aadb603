//! The scheduler on tokio's paused clock: time moves only when every task waits, so these
//! runs are exact and take no wall-clock time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jobs::{JobSpec, Ran, Scheduler};

fn spec(name: &'static str, every_ms: u64, timeout_ms: u64) -> JobSpec {
    JobSpec {
        name,
        every: Duration::from_millis(every_ms),
        timeout: Duration::from_millis(timeout_ms),
    }
}

#[tokio::test(start_paused = true)]
async fn a_stuck_job_delays_no_other_and_is_cut_off_at_its_timeout() {
    let quick_runs = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&quick_runs);
    let scheduler = Scheduler::builder()
        .job(spec("stuck", 1_000, 5_000), || async {
            // A silent peer: never answers.
            std::future::pending::<()>().await;
            Ok(Ran::default())
        })
        .job(spec("quick", 1_000, 500), move || {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(Ran { backlog: Some(7) })
            }
        })
        .start();
    // 12.5 s: "quick" ran every second; "stuck" started at 1 s, was cut off at 6 s, started
    // again at 7 s and was cut off at 12 s.
    tokio::time::sleep(Duration::from_millis(12_500)).await;
    let stats = scheduler.stats();
    assert_eq!(quick_runs.load(Ordering::SeqCst), 12);
    assert_eq!(stats["quick"].runs, 12);
    assert_eq!(stats["quick"].backlog, Some(7));
    assert_eq!(stats["quick"].failures + stats["quick"].timeouts, 0);
    assert_eq!(stats["stuck"].timeouts, 2, "{:?}", stats["stuck"]);
    assert_eq!(stats["stuck"].last_duration_ms, Some(5_000));
    // At 13.5 s "stuck" is half a second into its third run; stopping cuts it off at
    // once: no time passes.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let before = tokio::time::Instant::now();
    scheduler.stop().await;
    assert_eq!(tokio::time::Instant::now(), before);
}

#[tokio::test(start_paused = true)]
async fn a_failing_job_is_counted_and_runs_again_one_at_a_time() {
    let running = Arc::new(AtomicU64::new(0));
    let most_at_once = Arc::new(AtomicU64::new(0));
    let (r, m) = (Arc::clone(&running), Arc::clone(&most_at_once));
    let scheduler = Scheduler::builder()
        .job(spec("flaky", 100, 10_000), move || {
            let (running, most) = (Arc::clone(&r), Arc::clone(&m));
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                // Longer than the interval: a second run must not start meanwhile.
                tokio::time::sleep(Duration::from_millis(250)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Err("the HSM said no".into())
            }
        })
        .start();
    // Runs start at 100, 450, 800, 1150 ms (each 250 ms long, then 100 ms of wait).
    tokio::time::sleep(Duration::from_millis(1_450)).await;
    let stats = scheduler.stats();
    assert_eq!(stats["flaky"].runs, 4, "{:?}", stats["flaky"]);
    assert_eq!(stats["flaky"].failures, 4);
    assert_eq!(most_at_once.load(Ordering::SeqCst), 1, "single-flight");
    scheduler.stop().await;
}

#[tokio::test(start_paused = true)]
async fn bounds_hold_whatever_a_spec_asks() {
    let runs = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&runs);
    let scheduler = Scheduler::builder()
        .job(spec("eager", 0, 0), move || {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(Ran::default())
            }
        })
        .start();
    // An interval of 0 is raised to the minimum (10 ms): 10 runs in 105 ms, not a spin.
    tokio::time::sleep(Duration::from_millis(105)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 10);
    scheduler.stop().await;
}

#[test]
#[should_panic(expected = "added twice")]
fn a_name_is_one_job() {
    let _ = Scheduler::builder()
        .job(spec("a", 10, 10), || async { Ok(Ran::default()) })
        .job(spec("a", 10, 10), || async { Ok(Ran::default()) });
}
