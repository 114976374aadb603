//! A closed-loop load driver: `count` operations, at most `concurrency` at once, each
//! timed; the histogram and the failures by reason.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::Semaphore;

pub struct Load {
    pub ok: u32,
    pub failed: u32,
    pub elapsed: Duration,
    /// Microseconds.
    pub latency_us: Histogram<u64>,
    pub failures: HashMap<String, u32>,
}

impl Load {
    pub fn per_sec(&self) -> f64 {
        f64::from(self.ok) / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn ms_at(&self, quantile: f64) -> f64 {
        self.latency_us.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn ms_max(&self) -> f64 {
        self.latency_us.max() as f64 / 1000.0
    }

    pub fn report_failures(&self, what: &str) {
        for (reason, count) in &self.failures {
            eprintln!("bench: {what}: {count} failed: {reason}");
        }
    }
}

/// A latency histogram from 1 µs to 10 minutes, 3 significant digits.
fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?)
}

/// Runs `op(0..count)` with at most `concurrency` in flight; each call's latency counts
/// when it succeeds.
pub async fn drive<F, Fut>(what: &str, count: u32, concurrency: u32, op: F) -> anyhow::Result<Load>
where
    F: Fn(u32) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    anyhow::ensure!(
        count > 0 && concurrency > 0,
        "count and concurrency must be positive"
    );
    let limit = Arc::new(Semaphore::new(concurrency as usize));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let permit = Arc::clone(&limit).acquire_owned().await?;
        let operation = op(i);
        tasks.spawn(async move {
            let _permit = permit;
            let begun = Instant::now();
            let outcome = operation.await;
            (outcome, begun.elapsed())
        });
        if i > 0 && i % 2_000 == 0 {
            eprintln!(
                "bench: {what}: {i}/{count} started, {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let mut load = Load {
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latency_us: histogram()?,
        failures: HashMap::new(),
    };
    while let Some(joined) = tasks.join_next().await {
        let (outcome, latency) = joined?;
        match outcome {
            Ok(()) => {
                load.ok += 1;
                load.latency_us
                    .saturating_record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
            }
            Err(reason) => {
                load.failed += 1;
                *load.failures.entry(reason).or_default() += 1;
            }
        }
    }
    load.elapsed = started.elapsed();
    Ok(load)
}
