//! Service-level indicators. Each event (a payment finished, an invoice created, an API
//! request, a probe) is good or bad for an SLO; counts are kept per SLO and UTC minute in
//! memory, added to the shared `sli_minutes` rows by [`Sli::flush`] (every few seconds and
//! at shutdown), and the report reads windows of those rows, so it covers every replica
//! and survives restarts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kernel::Clock;
use store::{Store, StoreError, Value};
use strum::VariantArray;

use crate::slo::{window_of, MINUTE_MS, WINDOWS};
use crate::{SlaReport, Slo, SloConfig, SloReport, SloWindow};

/// Minutes held in memory before new events are dropped (an unreachable store must not
/// grow memory without bound); at one flush every 10 s this is hours of outage.
const MAX_PENDING_MINUTES: usize = 4 * 24 * 60;

/// Counts not yet added to the store: (slo, minute) → (good, total).
type Pending = BTreeMap<(Slo, i64), (u64, u64)>;

/// The SLI counts of this process and the SLA report over every replica's.
pub struct Sli {
    store: Store,
    clock: Arc<dyn Clock>,
    config: SloConfig,
    pending: Mutex<Pending>,
    /// One flush at a time, so a failed flush's counts merge back before the next.
    flushing: tokio::sync::Mutex<()>,
}

impl Sli {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: SloConfig) -> Self {
        Self {
            store,
            clock,
            config,
            pending: Mutex::default(),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, key: (Slo, i64), good: u64, total: u64) {
        let mut pending = self.lock();
        if pending.len() >= MAX_PENDING_MINUTES && !pending.contains_key(&key) {
            return;
        }
        let entry = pending.entry(key).or_insert((0, 0));
        entry.0 += good;
        entry.1 += total;
    }

    /// Counts one event for `slo`.
    pub fn record(&self, slo: Slo, good: bool, now_ms: i64) {
        let minute = now_ms - now_ms.rem_euclid(MINUTE_MS);
        self.add((slo, minute), u64::from(good), 1);
    }

    /// Counts one timed event for a latency SLO: good when within its threshold.
    pub fn record_latency(&self, slo: Slo, took_ms: u64, now_ms: i64) {
        let within = self
            .config
            .threshold_ms(slo)
            .is_none_or(|limit| took_ms <= limit);
        self.record(slo, within, now_ms);
    }

    /// [`Sli::record_latency`] at the clock's now.
    pub fn record_latency_now(&self, slo: Slo, took_ms: u64) {
        self.record_latency(slo, took_ms, self.clock.now_ms());
    }

    /// Adds the counts held in memory to the shared rows; on failure they are kept for
    /// the next flush.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.flushing.lock().await;
        let taken = std::mem::take(&mut *self.lock());
        if taken.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = taken.iter().map(|(k, v)| (*k, *v)).collect();
        let written = self
            .store
            .write(move |sql| {
                for ((slo, minute), (good, total)) in &rows {
                    sql.execute(
                        "INSERT INTO sli_minutes (slo, minute_ms, good, total) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (slo, minute_ms) DO UPDATE \
                         SET good = sli_minutes.good + excluded.good, \
                         total = sli_minutes.total + excluded.total",
                        &[
                            slo.as_str().into(),
                            Value::Int(*minute),
                            (*good).into(),
                            (*total).into(),
                        ],
                    )?;
                }
                Ok::<_, StoreError>(())
            })
            .await;
        if let Err(e) = written {
            for (key, (good, total)) in taken {
                self.add(key, good, total);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Attainment, burn rates and error budget per SLO over 5 m, 1 h, 6 h and 30 d
    /// (this replica's unflushed counts included: it flushes first).
    pub async fn report(&self) -> Result<SlaReport, StoreError> {
        self.flush().await?;
        let now = self.clock.now_ms();
        let counts = self
            .store
            .read(move |sql| {
                let mut counts: BTreeMap<(Slo, &'static str), (u64, u64)> = BTreeMap::new();
                for (window, length_ms) in WINDOWS {
                    let rows = sql.query(
                        "SELECT slo, CAST(SUM(good) AS BIGINT) AS good, \
                         CAST(SUM(total) AS BIGINT) AS total \
                         FROM sli_minutes WHERE minute_ms > $1 GROUP BY slo",
                        &[Value::Int(now - length_ms)],
                    )?;
                    for row in &rows {
                        if let Ok(slo) = row.text("slo")?.parse::<Slo>() {
                            counts.insert((slo, window), (row.u64("good")?, row.u64("total")?));
                        }
                    }
                }
                Ok::<_, StoreError>(counts)
            })
            .await?;
        let slos = Slo::VARIANTS
            .iter()
            .map(|&slo| {
                let objective = self.config.objective(slo);
                let windows: Vec<SloWindow> = WINDOWS
                    .iter()
                    .map(|(window, _)| {
                        let (good, total) = counts.get(&(slo, *window)).copied().unwrap_or((0, 0));
                        window_of(objective, window, good, total)
                    })
                    .collect();
                let budget = windows.last().expect("30d window");
                SloReport {
                    slo,
                    objective,
                    threshold_ms: self.config.threshold_ms(slo),
                    error_budget_remaining: budget.burn_rate.map(|burn| 1.0 - burn),
                    met: budget.attainment.is_none_or(|a| a >= objective),
                    windows,
                }
            })
            .collect();
        Ok(SlaReport {
            generated_at_ms: now,
            slos,
        })
    }
}
