//! The service-level objectives and the SLA report's shape: what each SLO counts, its
//! objective and threshold (`[slo]` in `fulgur serve`'s config), and the windows reported.

use strum::VariantArray;

pub(crate) const MINUTE_MS: i64 = 60_000;
/// The longest window reported, over which the error budget is counted.
pub(crate) const BUDGET_WINDOW_MS: i64 = 30 * 24 * 60 * MINUTE_MS;

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
pub(crate) const WINDOWS: [(&str, i64); 4] = [
    ("5m", 5 * MINUTE_MS),
    ("1h", 60 * MINUTE_MS),
    ("6h", 360 * MINUTE_MS),
    ("30d", BUDGET_WINDOW_MS),
];

pub(crate) fn window_of(objective: f64, window: &'static str, good: u64, total: u64) -> SloWindow {
    let attainment = (total > 0).then(|| good as f64 / total as f64);
    SloWindow {
        window,
        good,
        total,
        attainment,
        burn_rate: attainment.map(|a| (1.0 - a) / (1.0 - objective)),
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
