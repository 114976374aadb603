//! Service-level indicators and the SLA report. Each event (a payment finished, an
//! invoice created, an API request, a probe) is good or bad for an SLO; counts are kept
//! per SLO and UTC minute in memory, added to the shared `sli_minutes` rows by
//! [`Gateway::flush_sli`] (every few seconds and at shutdown), and the report reads
//! windows of those rows, so it covers every replica and survives restarts.

use std::collections::BTreeMap;
use std::sync::Mutex;

use store::{StoreError, Value};
use strum::VariantArray;

use crate::{Gateway, GatewayError};

const MINUTE_MS: i64 = 60_000;
/// The longest window reported, over which the error budget is counted.
pub const BUDGET_WINDOW_MS: i64 = 30 * 24 * 60 * MINUTE_MS;
/// Minutes held in memory before new events are dropped (an unreachable store must not
/// grow memory without bound); at one flush every 10 s this is hours of outage.
const MAX_PENDING_MINUTES: usize = 4 * 24 * 60;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum Slo {
    /// Payments (real and probes) that succeed.
    Availability,
    /// Successful payments finished within the threshold, end to end.
    PaymentLatency,
    /// Invoices created within the threshold.
    InvoiceLatency,
    /// API requests answered within the threshold.
    ApiLatency,
}

impl Slo {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The objectives. Defaults are the customer's: 99.99% of payments succeed over 30 days;
/// 95% of payments within 3 s; 99% of invoices within 500 ms; 95% of API requests
/// within 1 s. In `fulgur serve`'s config as `[slo]`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SloConfig {
    pub availability_objective: f64,
    pub payment_latency_ms: u64,
    pub payment_latency_objective: f64,
    pub invoice_latency_ms: u64,
    pub invoice_latency_objective: f64,
    pub api_latency_ms: u64,
    pub api_latency_objective: f64,
}

impl Default for SloConfig {
    fn default() -> Self {
        Self {
            availability_objective: 0.9999,
            payment_latency_ms: 3_000,
            payment_latency_objective: 0.95,
            invoice_latency_ms: 500,
            invoice_latency_objective: 0.99,
            api_latency_ms: 1_000,
            api_latency_objective: 0.95,
        }
    }
}

impl SloConfig {
    pub fn objective(&self, slo: Slo) -> f64 {
        match slo {
            Slo::Availability => self.availability_objective,
            Slo::PaymentLatency => self.payment_latency_objective,
            Slo::InvoiceLatency => self.invoice_latency_objective,
            Slo::ApiLatency => self.api_latency_objective,
        }
    }

    pub fn threshold_ms(&self, slo: Slo) -> Option<u64> {
        match slo {
            Slo::Availability => None,
            Slo::PaymentLatency => Some(self.payment_latency_ms),
            Slo::InvoiceLatency => Some(self.invoice_latency_ms),
            Slo::ApiLatency => Some(self.api_latency_ms),
        }
    }

    /// Every objective strictly between 0 and 1 (a 100% objective has no error budget).
    pub fn validate(&self) -> Result<(), String> {
        for &slo in Slo::VARIANTS {
            let objective = self.objective(slo);
            if !(objective > 0.0 && objective < 1.0) {
                return Err(format!(
                    "{} objective must be between 0 and 1 (exclusive), not {objective}",
                    slo.as_str()
                ));
            }
        }
        Ok(())
    }
}

/// Counts not yet added to the store: (slo, minute) → (good, total).
#[derive(Default)]
pub(crate) struct SliCounts {
    pending: Mutex<BTreeMap<(Slo, i64), (u64, u64)>>,
    /// One flush at a time, so a failed flush's counts merge back before the next.
    flushing: tokio::sync::Mutex<()>,
}

impl SliCounts {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Slo, i64), (u64, u64)>> {
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
}

/// One window of one SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct SloWindow {
    /// `5m`, `1h`, `6h` or `30d`.
    pub window: &'static str,
    pub good: u64,
    pub total: u64,
    /// good / total; `None` without events.
    pub attainment: Option<f64>,
    /// How fast the error budget burns: the bad ratio over the budgeted one (1 = exactly
    /// on budget over 30 days).
    pub burn_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SloReport {
    pub slo: Slo,
    pub objective: f64,
    pub threshold_ms: Option<u64>,
    pub windows: Vec<SloWindow>,
    /// Share of the 30-day error budget left (negative once overspent); `None` without
    /// events.
    pub error_budget_remaining: Option<f64>,
    /// The 30-day attainment meets the objective (true without events).
    pub met: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlaReport {
    pub generated_at_ms: i64,
    pub slos: Vec<SloReport>,
}

/// The report's windows: name and length.
pub const WINDOWS: [(&str, i64); 4] = [
    ("5m", 5 * MINUTE_MS),
    ("1h", 60 * MINUTE_MS),
    ("6h", 360 * MINUTE_MS),
    ("30d", BUDGET_WINDOW_MS),
];

fn window_of(objective: f64, window: &'static str, good: u64, total: u64) -> SloWindow {
    let attainment = (total > 0).then(|| good as f64 / total as f64);
    SloWindow {
        window,
        good,
        total,
        attainment,
        burn_rate: attainment.map(|a| (1.0 - a) / (1.0 - objective)),
    }
}

impl Gateway {
    /// Counts one event for `slo`.
    pub fn record_sli(&self, slo: Slo, good: bool, now_ms: i64) {
        let minute = now_ms - now_ms.rem_euclid(MINUTE_MS);
        self.inner.sli.add((slo, minute), u64::from(good), 1);
    }

    /// Counts one timed event for a latency SLO: good when within its threshold.
    pub fn record_latency(&self, slo: Slo, took_ms: u64, now_ms: i64) {
        let within = self
            .inner
            .config
            .slo
            .threshold_ms(slo)
            .is_none_or(|limit| took_ms <= limit);
        self.record_sli(slo, within, now_ms);
    }

    /// [`Gateway::record_latency`] at the gateway's clock's now.
    pub fn record_latency_now(&self, slo: Slo, took_ms: u64) {
        self.record_latency(slo, took_ms, self.now_ms());
    }

    /// Adds the counts held in memory to the shared rows; on failure they are kept for
    /// the next flush.
    pub async fn flush_sli(&self) -> Result<(), GatewayError> {
        let _one_at_a_time = self.inner.sli.flushing.lock().await;
        let taken = std::mem::take(&mut *self.inner.sli.lock());
        if taken.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = taken.iter().map(|(k, v)| (*k, *v)).collect();
        let written = self
            .inner
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
                self.inner.sli.add(key, good, total);
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Attainment, burn rates and error budget per SLO over 5 m, 1 h, 6 h and 30 d
    /// (this replica's unflushed counts included: it flushes first).
    pub async fn sla_report(&self) -> Result<SlaReport, GatewayError> {
        self.flush_sli().await?;
        let now = self.now_ms();
        let counts = self
            .inner
            .store
            .read(move |sql| {
                let mut counts: BTreeMap<(Slo, &'static str), (u64, u64)> = BTreeMap::new();
                for (window, length_ms) in WINDOWS {
                    let rows = sql.query(
                        "SELECT slo, CAST(SUM(good) AS BIGINT), CAST(SUM(total) AS BIGINT) \
                         FROM sli_minutes WHERE minute_ms > $1 GROUP BY slo",
                        &[Value::Int(now - length_ms)],
                    )?;
                    for row in &rows {
                        if let Ok(slo) = row.text(0)?.parse::<Slo>() {
                            counts.insert((slo, window), (row.u64(1)?, row.u64(2)?));
                        }
                    }
                }
                Ok::<_, StoreError>(counts)
            })
            .await?;
        let config = &self.inner.config.slo;
        let slos = Slo::VARIANTS
            .iter()
            .copied()
            .map(|slo| {
                let objective = config.objective(slo);
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
                    threshold_ms: config.threshold_ms(slo),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_rate_is_the_bad_ratio_over_the_budget() {
        let w = window_of(0.99, "1h", 98, 100);
        assert_eq!(w.attainment, Some(0.98));
        let burn = w.burn_rate.expect("events");
        assert!((burn - 2.0).abs() < 1e-9, "{burn}");
        assert_eq!(window_of(0.99, "1h", 0, 0).burn_rate, None);
    }

    #[test]
    fn objectives_must_leave_a_budget() {
        assert!(SloConfig::default().validate().is_ok());
        let full = SloConfig {
            availability_objective: 1.0,
            ..SloConfig::default()
        };
        assert!(full.validate().is_err());
    }
}
