//! The rules, each over one payment and the payer's recent history in the same direction
//! unless it says otherwise. Amounts are EUR cents at the rate the payment records.

use serde::{Deserialize, Serialize};

use crate::stats::{mad, median};

/// The large-payment rule's name (reports count its alerts as large transactions).
pub const LARGE_PAYMENT: &str = "large_payment";

/// History handed to [`evaluate`] at most (the most recent payments).
pub const MAX_HISTORY: usize = 2_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

/// What a finding asks for, in increasing severity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Decision {
    /// Hold the payment until a compliance officer releases or rejects it.
    Review,
    /// Refuse it.
    Block,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A payment of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastPayment {
    pub direction: Direction,
    pub eur_cents: u64,
    pub at_ms: i64,
    /// Who was paid or who paid, as a stable key (a node id, a payer id); 0 when unknown.
    pub counterparty: u64,
}

/// The payment being decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentFacts {
    pub direction: Direction,
    pub eur_cents: u64,
    pub at_ms: i64,
    pub counterparty: u64,
    /// The start of the UTC day `at_ms` is in (for the daily aggregate).
    pub day_start_ms: i64,
    /// The payer's last payment before the history's window, in either direction.
    pub last_activity_at_ms: Option<i64>,
    /// The customer's country is on a high-risk jurisdiction list.
    pub high_risk_jurisdiction: bool,
}

/// One rule's switch and decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleParams {
    pub enabled: bool,
    pub decision: Decision,
}

const REVIEW: RuleParams = RuleParams {
    enabled: true,
    decision: Decision::Review,
};

/// Every rule's parameters. Defaults are the customer's thresholds (5,000 EUR per payment,
/// 50,000 EUR a day) and documented in docs/compliance.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// A parameter added later takes its default in versions stored before it.
#[serde(deny_unknown_fields, default)]
pub struct RuleSet {
    pub version: u32,
    pub large_payment: RuleParams,
    pub large_payment_eur_cents: u64,
    pub daily_aggregate: RuleParams,
    pub daily_aggregate_eur_cents: u64,
    /// Several payments just under a threshold whose sum crosses it within a window.
    pub structuring: RuleParams,
    pub structuring_threshold_eur_cents: u64,
    /// "Just under": at least this share of the threshold, in per mille.
    pub structuring_near_permille: u64,
    pub structuring_min_payments: usize,
    pub structuring_window_ms: i64,
    /// Most of what arrived leaves again within a short window.
    pub rapid_in_out: RuleParams,
    pub rapid_in_out_window_ms: i64,
    pub rapid_in_out_share_permille: u64,
    pub rapid_in_out_min_in_eur_cents: u64,
    /// Many counterparties to one payer (one-to-many out, many-to-one in) in a window.
    pub fan: RuleParams,
    pub fan_window_ms: i64,
    pub fan_min_counterparties: usize,
    /// Quiet for long, then a payment of note.
    pub dormant: RuleParams,
    pub dormant_quiet_ms: i64,
    pub dormant_min_eur_cents: u64,
    /// A customer from a high-risk jurisdiction moving more than this.
    pub high_risk_jurisdiction: RuleParams,
    pub high_risk_jurisdiction_eur_cents: u64,
    /// Far above the payer's usual amount (median and MAD of its history).
    pub amount_anomaly: RuleParams,
    pub anomaly_min_history: usize,
    /// How many robust deviations above the median is anomalous.
    pub anomaly_deviations: f64,
    /// More payments in the last hour than the payer's usual hourly rate allows.
    pub velocity: RuleParams,
    pub velocity_multiple: u64,
    pub velocity_min_per_hour: usize,
}

impl Default for RuleSet {
    fn default() -> Self {
        Self {
            version: 1,
            large_payment: REVIEW,
            large_payment_eur_cents: 500_000,
            daily_aggregate: REVIEW,
            daily_aggregate_eur_cents: 5_000_000,
            structuring: REVIEW,
            // Just under the 5,000 EUR that a single payment is reviewed at.
            structuring_threshold_eur_cents: 500_000,
            structuring_near_permille: 800,
            structuring_min_payments: 3,
            structuring_window_ms: DAY_MS,
            rapid_in_out: REVIEW,
            rapid_in_out_window_ms: DAY_MS,
            rapid_in_out_share_permille: 800,
            rapid_in_out_min_in_eur_cents: 100_000,
            fan: REVIEW,
            fan_window_ms: DAY_MS,
            fan_min_counterparties: 20,
            dormant: REVIEW,
            dormant_quiet_ms: 180 * DAY_MS,
            dormant_min_eur_cents: 100_000,
            high_risk_jurisdiction: REVIEW,
            high_risk_jurisdiction_eur_cents: 100_000,
            amount_anomaly: REVIEW,
            anomaly_min_history: 20,
            anomaly_deviations: 8.0,
            velocity: REVIEW,
            velocity_multiple: 5,
            velocity_min_per_hour: 10,
        }
    }
}

/// The largest EUR threshold a rule set takes: 100 billion EUR.
const MAX_THRESHOLD_EUR_CENTS: u64 = 10_000_000_000_000;
/// Windows look back no further than the payer's history (30 days).
const MAX_WINDOW_MS: i64 = 30 * DAY_MS;
const MINUTE_MS: i64 = 60_000;

impl RuleSet {
    /// Whether every parameter is in its range (positive thresholds, windows within the
    /// history the rules see, shares in per mille, counts within the bounded history);
    /// the first that is not, by field name, with why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let thresholds = [
            ("large_payment_eur_cents", self.large_payment_eur_cents),
            ("daily_aggregate_eur_cents", self.daily_aggregate_eur_cents),
            (
                "structuring_threshold_eur_cents",
                self.structuring_threshold_eur_cents,
            ),
            (
                "rapid_in_out_min_in_eur_cents",
                self.rapid_in_out_min_in_eur_cents,
            ),
            ("dormant_min_eur_cents", self.dormant_min_eur_cents),
            (
                "high_risk_jurisdiction_eur_cents",
                self.high_risk_jurisdiction_eur_cents,
            ),
        ];
        for (field, value) in thresholds {
            if !(1..=MAX_THRESHOLD_EUR_CENTS).contains(&value) {
                return Err((
                    field,
                    format!("from 1 to {MAX_THRESHOLD_EUR_CENTS} EUR cents"),
                ));
            }
        }
        let windows = [
            ("structuring_window_ms", self.structuring_window_ms),
            ("rapid_in_out_window_ms", self.rapid_in_out_window_ms),
            ("fan_window_ms", self.fan_window_ms),
        ];
        for (field, value) in windows {
            if !(MINUTE_MS..=MAX_WINDOW_MS).contains(&value) {
                return Err((field, format!("from {MINUTE_MS} ms (a minute) to {MAX_WINDOW_MS} ms (30 days, the history the rules see)")));
            }
        }
        if !(DAY_MS..=3_660 * DAY_MS).contains(&self.dormant_quiet_ms) {
            return Err(("dormant_quiet_ms", "from a day to ten years, in ms".into()));
        }
        let shares = [
            ("structuring_near_permille", self.structuring_near_permille),
            (
                "rapid_in_out_share_permille",
                self.rapid_in_out_share_permille,
            ),
        ];
        for (field, value) in shares {
            if !(1..=1_000).contains(&value) {
                return Err((field, "from 1 to 1000 (per mille)".into()));
            }
        }
        let counts = [
            ("structuring_min_payments", self.structuring_min_payments, 2),
            ("fan_min_counterparties", self.fan_min_counterparties, 2),
            ("anomaly_min_history", self.anomaly_min_history, 2),
            ("velocity_min_per_hour", self.velocity_min_per_hour, 1),
        ];
        for (field, value, least) in counts {
            if !(least..=MAX_HISTORY).contains(&value) {
                return Err((field, format!("from {least} to {MAX_HISTORY} payments")));
            }
        }
        if !(1..=1_000).contains(&self.velocity_multiple) {
            return Err(("velocity_multiple", "from 1 to 1000".into()));
        }
        if !(self.anomaly_deviations.is_finite()
            && (1.0..=1_000.0).contains(&self.anomaly_deviations))
        {
            return Err(("anomaly_deviations", "from 1 to 1000".into()));
        }
        if self.version == 0 {
            return Err(("version", "versions start at 1".into()));
        }
        Ok(())
    }
}

/// A rule that fired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub decision: Decision,
    /// How far past its threshold, in [0, 1].
    pub score: f64,
    pub evidence: String,
}

fn eur(cents: u64) -> String {
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{grouped}.{:02} EUR", cents % 100)
}

/// 0.5 at the threshold, towards 1 as `value` reaches twice it.
fn past(value: u64, threshold: u64) -> f64 {
    if threshold == 0 {
        return 1.0;
    }
    (0.5 + (value as f64 / threshold as f64 - 1.0) / 2.0).clamp(0.5, 1.0)
}

struct Evaluation<'a> {
    rules: &'a RuleSet,
    findings: Vec<Finding>,
}

impl Evaluation<'_> {
    fn fire(&mut self, params: RuleParams, rule: &'static str, score: f64, evidence: String) {
        if params.enabled {
            self.findings.push(Finding {
                rule,
                decision: params.decision,
                score: (score * 1000.0).round() / 1000.0,
                evidence,
            });
        }
    }
}

/// Every rule that fires for `payment` given `history` (the payer's payments before it,
/// any order; at most [`MAX_HISTORY`] are looked at). Most severe first.
pub fn evaluate(rules: &RuleSet, payment: &PaymentFacts, history: &[PastPayment]) -> Vec<Finding> {
    let history = &history[..history.len().min(MAX_HISTORY)];
    let mut e = Evaluation {
        rules,
        findings: Vec::new(),
    };
    let same: Vec<&PastPayment> = history
        .iter()
        .filter(|p| p.direction == payment.direction && p.at_ms <= payment.at_ms)
        .collect();
    let since = |window_ms: i64| payment.at_ms.saturating_sub(window_ms);
    let r = e.rules;
    let amount = payment.eur_cents;

    if amount > r.large_payment_eur_cents {
        e.fire(
            r.large_payment,
            LARGE_PAYMENT,
            past(amount, r.large_payment_eur_cents),
            format!("{} above {}", eur(amount), eur(r.large_payment_eur_cents)),
        );
    }

    let today: u64 = same
        .iter()
        .filter(|p| p.at_ms >= payment.day_start_ms)
        .fold(amount, |sum, p| sum.saturating_add(p.eur_cents));
    if today > r.daily_aggregate_eur_cents {
        e.fire(
            r.daily_aggregate,
            "daily_aggregate",
            past(today, r.daily_aggregate_eur_cents),
            format!(
                "{} {} today with this payment, above {}",
                eur(today),
                if payment.direction == Direction::Out {
                    "sent"
                } else {
                    "received"
                },
                eur(r.daily_aggregate_eur_cents)
            ),
        );
    }

    let threshold = r.structuring_threshold_eur_cents;
    let near = threshold.saturating_mul(r.structuring_near_permille) / 1000;
    let is_near = |cents: u64| cents >= near && cents < threshold;
    if is_near(amount) {
        let window = since(r.structuring_window_ms);
        let (count, sum) = same
            .iter()
            .filter(|p| p.at_ms >= window && is_near(p.eur_cents))
            .fold((1usize, amount), |(n, s), p| {
                (n + 1, s.saturating_add(p.eur_cents))
            });
        if count >= r.structuring_min_payments && sum > threshold {
            e.fire(
                r.structuring,
                "structuring",
                past(sum, threshold.saturating_mul(count as u64) / 2),
                format!(
                    "{count} payments between {} and {} within {} h, {} together",
                    eur(near),
                    eur(threshold),
                    r.structuring_window_ms / HOUR_MS,
                    eur(sum)
                ),
            );
        }
    }

    if payment.direction == Direction::Out {
        let window = since(r.rapid_in_out_window_ms);
        let received: u64 = history
            .iter()
            .filter(|p| p.direction == Direction::In && p.at_ms >= window)
            .fold(0, |sum, p| sum.saturating_add(p.eur_cents));
        let sent: u64 = same
            .iter()
            .filter(|p| p.at_ms >= window)
            .fold(amount, |sum, p| sum.saturating_add(p.eur_cents));
        if received >= r.rapid_in_out_min_in_eur_cents
            && sent.saturating_mul(1000) >= received.saturating_mul(r.rapid_in_out_share_permille)
        {
            e.fire(
                r.rapid_in_out,
                "rapid_in_out",
                (sent as f64 / received as f64 / 2.0).clamp(0.5, 1.0),
                format!(
                    "{} received and {} sent within {} h",
                    eur(received),
                    eur(sent),
                    r.rapid_in_out_window_ms / HOUR_MS
                ),
            );
        }
    }

    if payment.counterparty != 0 {
        let window = since(r.fan_window_ms);
        let mut parties: Vec<u64> = same
            .iter()
            .filter(|p| p.at_ms >= window && p.counterparty != 0)
            .map(|p| p.counterparty)
            .chain([payment.counterparty])
            .collect();
        parties.sort_unstable();
        parties.dedup();
        if parties.len() >= r.fan_min_counterparties {
            let (rule, words) = match payment.direction {
                Direction::Out => ("one_to_many", "payees"),
                Direction::In => ("many_to_one", "payers"),
            };
            e.fire(
                r.fan,
                rule,
                past(parties.len() as u64, r.fan_min_counterparties as u64),
                format!(
                    "{} distinct {words} within {} h",
                    parties.len(),
                    r.fan_window_ms / HOUR_MS
                ),
            );
        }
    }

    let last = history
        .iter()
        .map(|p| p.at_ms)
        .filter(|&at| at <= payment.at_ms)
        .max()
        .or(payment.last_activity_at_ms);
    if let Some(last) = last {
        let quiet = payment.at_ms.saturating_sub(last);
        if quiet >= r.dormant_quiet_ms && amount >= r.dormant_min_eur_cents {
            e.fire(
                r.dormant,
                "dormant_account",
                0.7,
                format!(
                    "{} after {} days without a payment",
                    eur(amount),
                    quiet / DAY_MS
                ),
            );
        }
    }

    if payment.high_risk_jurisdiction && amount >= r.high_risk_jurisdiction_eur_cents {
        e.fire(
            r.high_risk_jurisdiction,
            "high_risk_jurisdiction",
            past(amount, r.high_risk_jurisdiction_eur_cents),
            format!(
                "{} by a customer of a high-risk jurisdiction (from {})",
                eur(amount),
                eur(r.high_risk_jurisdiction_eur_cents)
            ),
        );
    }

    if same.len() >= r.anomaly_min_history {
        let mut amounts: Vec<u64> = same.iter().map(|p| p.eur_cents).collect();
        let center = median(&mut amounts).unwrap_or(0.0);
        // A floor of 1 EUR keeps a history of identical amounts from flagging a cent more.
        let spread = mad(&amounts, center).max(100.0);
        let deviations = (amount as f64 - center) / spread;
        if deviations > r.anomaly_deviations {
            e.fire(
                r.amount_anomaly,
                "amount_anomaly",
                (0.5 + (deviations / r.anomaly_deviations - 1.0) / 4.0).clamp(0.5, 1.0),
                format!(
                    "{} against a usual {} ({:.1} robust deviations)",
                    eur(amount),
                    eur(center.round() as u64),
                    deviations
                ),
            );
        }
        let hour = since(HOUR_MS);
        let last_hour = same.iter().filter(|p| p.at_ms >= hour).count() + 1;
        let first = same.iter().map(|p| p.at_ms).min().unwrap_or(payment.at_ms);
        let hours = ((payment.at_ms - first) / HOUR_MS).max(1) as usize;
        let usual = same.len().div_ceil(hours);
        let allowed = (usual * r.velocity_multiple as usize).max(r.velocity_min_per_hour);
        if last_hour > allowed {
            e.fire(
                r.velocity,
                "velocity",
                past(last_hour as u64, allowed as u64),
                format!("{last_hour} payments in the last hour against a usual {usual} an hour"),
            );
        }
    }

    e.findings.sort_by(|a, b| {
        b.decision
            .cmp(&a.decision)
            .then(b.score.total_cmp(&a.score))
    });
    e.findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_in_range_and_each_bound_is_checked() {
        assert_eq!(RuleSet::default().validate(), Ok(()));
        type Breaks = fn(&mut RuleSet);
        let cases: [(Breaks, &str); 8] = [
            (|r| r.large_payment_eur_cents = 0, "large_payment_eur_cents"),
            (
                |r| r.daily_aggregate_eur_cents = u64::MAX,
                "daily_aggregate_eur_cents",
            ),
            (|r| r.fan_window_ms = -1, "fan_window_ms"),
            (|r| r.dormant_quiet_ms = i64::MAX, "dormant_quiet_ms"),
            (
                |r| r.rapid_in_out_share_permille = 0,
                "rapid_in_out_share_permille",
            ),
            (
                |r| r.velocity_min_per_hour = MAX_HISTORY + 1,
                "velocity_min_per_hour",
            ),
            (|r| r.anomaly_deviations = f64::NAN, "anomaly_deviations"),
            (|r| r.version = 0, "version"),
        ];
        for (break_it, field) in cases {
            let mut rules = RuleSet::default();
            break_it(&mut rules);
            assert_eq!(rules.validate().map_err(|(f, _)| f), Err(field));
        }
    }

    const EUR: u64 = 100;
    /// 2026-12-05T12:00:00Z and its day's start.
    const NOON: i64 = 1_796_472_000_000;
    const MIDNIGHT: i64 = 1_796_428_800_000;

    fn out(eur_cents: u64) -> PaymentFacts {
        PaymentFacts {
            direction: Direction::Out,
            eur_cents,
            at_ms: NOON,
            counterparty: 7,
            day_start_ms: MIDNIGHT,
            last_activity_at_ms: None,
            high_risk_jurisdiction: false,
        }
    }

    fn past_out(eur_cents: u64, ago_ms: i64, counterparty: u64) -> PastPayment {
        PastPayment {
            direction: Direction::Out,
            eur_cents,
            at_ms: NOON - ago_ms,
            counterparty,
        }
    }

    fn rules_of(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn a_large_payment_is_reviewed_at_its_threshold_exclusive() {
        let rules = RuleSet::default();
        assert!(evaluate(&rules, &out(5_000 * EUR), &[]).is_empty());
        let findings = evaluate(&rules, &out(6_000 * EUR), &[]);
        assert_eq!(rules_of(&findings), ["large_payment"]);
        assert_eq!(findings[0].decision, Decision::Review);
        assert_eq!(findings[0].evidence, "6,000.00 EUR above 5,000.00 EUR");
        assert_eq!(findings[0].score, 0.6);
    }

    #[test]
    fn the_daily_aggregate_counts_today_only() {
        let rules = RuleSet::default();
        let yesterday = past_out(4_900 * EUR, 13 * HOUR_MS, 1);
        let today: Vec<PastPayment> = (0..10)
            .map(|i| past_out(4_900 * EUR, i * 60_000, 1))
            .collect();
        let mut history = today.clone();
        history.push(yesterday);
        // 10 × 4,900 + 1,500 = 50,500 EUR today.
        let findings = evaluate(&rules, &out(1_500 * EUR), &history);
        assert!(
            rules_of(&findings).contains(&"daily_aggregate"),
            "{findings:?}"
        );
        assert!(
            !rules_of(&evaluate(&rules, &out(500 * EUR), &history)).contains(&"daily_aggregate")
        );
    }

    #[test]
    fn three_payments_just_under_the_threshold_are_structuring() {
        let rules = RuleSet::default();
        let two = [
            past_out(4_500 * EUR, HOUR_MS, 1),
            past_out(4_500 * EUR, 2 * HOUR_MS, 2),
        ];
        let findings = evaluate(&rules, &out(4_500 * EUR), &two);
        assert_eq!(rules_of(&findings), ["structuring"], "{findings:?}");
        assert!(findings[0]
            .evidence
            .starts_with("3 payments between 4,000.00 EUR and 5,000.00 EUR"));
        // Two are not enough; a day apart they are not together.
        assert!(evaluate(&rules, &out(4_500 * EUR), &two[..1]).is_empty());
        let apart = [
            past_out(4_500 * EUR, 30 * HOUR_MS, 1),
            past_out(4_500 * EUR, 31 * HOUR_MS, 2),
        ];
        assert!(evaluate(&rules, &out(4_500 * EUR), &apart).is_empty());
    }

    #[test]
    fn what_arrives_and_leaves_at_once_is_rapid_in_out() {
        let rules = RuleSet::default();
        let arrived = [PastPayment {
            direction: Direction::In,
            eur_cents: 3_000 * EUR,
            at_ms: NOON - HOUR_MS,
            counterparty: 9,
        }];
        assert_eq!(
            rules_of(&evaluate(&rules, &out(2_500 * EUR), &arrived)),
            ["rapid_in_out"]
        );
        assert!(evaluate(&rules, &out(1_000 * EUR), &arrived).is_empty());
    }

    #[test]
    fn many_payees_dormancy_jurisdiction_anomaly_and_velocity() {
        let rules = RuleSet::default();
        let many: Vec<PastPayment> = (1..=20)
            .map(|i| past_out(10 * EUR, i * 60_000, i as u64))
            .collect();
        let fan = evaluate(&rules, &out(10 * EUR), &many);
        assert!(rules_of(&fan).contains(&"one_to_many"), "{fan:?}");

        let mut woke = out(2_000 * EUR);
        woke.last_activity_at_ms = Some(NOON - 200 * DAY_MS);
        assert_eq!(rules_of(&evaluate(&rules, &woke, &[])), ["dormant_account"]);

        let mut risky = out(2_000 * EUR);
        risky.high_risk_jurisdiction = true;
        assert_eq!(
            rules_of(&evaluate(&rules, &risky, &[])),
            ["high_risk_jurisdiction"]
        );

        // A month of about 100 EUR a day, then 4,000 EUR.
        let usual: Vec<PastPayment> = (1..=30)
            .map(|d| past_out((95 + (d % 10) as u64) * EUR, d * DAY_MS, 1))
            .collect();
        assert_eq!(
            rules_of(&evaluate(&rules, &out(4_000 * EUR), &usual)),
            ["amount_anomaly"]
        );
        assert!(evaluate(&rules, &out(120 * EUR), &usual).is_empty());

        // The same month, then 15 payments within the hour.
        let mut burst = usual.clone();
        burst.extend((1..15).map(|i| past_out(100 * EUR, i * 60_000, 1)));
        assert!(rules_of(&evaluate(&rules, &out(100 * EUR), &burst)).contains(&"velocity"));
    }

    #[test]
    fn a_disabled_rule_is_silent_and_block_sorts_first() {
        let mut rules = RuleSet::default();
        rules.large_payment.enabled = false;
        assert!(evaluate(&rules, &out(6_000 * EUR), &[]).is_empty());
        rules.large_payment = RuleParams {
            enabled: true,
            decision: Decision::Block,
        };
        let mut facts = out(6_000 * EUR);
        facts.high_risk_jurisdiction = true;
        let findings = evaluate(&rules, &facts, &[]);
        assert_eq!(
            rules_of(&findings),
            ["large_payment", "high_risk_jurisdiction"]
        );
    }

    #[test]
    fn hostile_numbers_do_not_overflow() {
        let rules = RuleSet::default();
        let huge = [past_out(u64::MAX, 1, 1), past_out(u64::MAX, 2, 2)];
        let findings = evaluate(&rules, &out(u64::MAX), &huge);
        assert!(findings.iter().all(|f| (0.0..=1.0).contains(&f.score)));
    }
}
