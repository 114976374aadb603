//! The compliance report of a month (`2026-11`) or a quarter (`2026-Q4`): what the
//! monitoring found (alerts by rule, decision and outcome), cases opened and closed,
//! reports filed and whether on time, large transactions, customers by risk level,
//! reviews due and overdue, and the list versions in force. Counted in the caller's read
//! transaction; the gateway adds what only it knows (payments and receipts screened).

use chrono::{NaiveDate, TimeZone, Utc};
use store::{Sql, StoreError};

use crate::error::invalid;
use crate::{lists, ComplianceError};

/// A calendar month or quarter in UTC: `[start_ms, end_ms)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub label: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Years a report may ask for: the store holds nothing older, and nothing is later.
const YEARS: std::ops::RangeInclusive<i32> = 2000..=2999;

fn month_start_ms(year: i32, month: u32) -> Option<i64> {
    let date = NaiveDate::from_ymd_opt(year, month, 1)?;
    Some(
        Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?)
            .timestamp_millis(),
    )
}

impl Period {
    /// `YYYY-MM` or `YYYY-Qn`.
    pub fn parse(text: &str) -> Result<Self, ComplianceError> {
        let refuse = || invalid("period", "a month (2026-11) or a quarter (2026-Q4)");
        let (year, rest) = text.split_once('-').ok_or_else(refuse)?;
        if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse());
        }
        let year: i32 = year.parse().map_err(|_| refuse())?;
        if !YEARS.contains(&year) {
            return Err(refuse());
        }
        let (first_month, months) = match rest.strip_prefix('Q') {
            Some(q) if q.len() == 1 => match q.parse::<u32>() {
                Ok(q @ 1..=4) => (3 * q - 2, 3),
                _ => return Err(refuse()),
            },
            Some(_) => return Err(refuse()),
            None if rest.len() == 2 && rest.bytes().all(|b| b.is_ascii_digit()) => {
                match rest.parse::<u32>() {
                    Ok(m @ 1..=12) => (m, 1),
                    _ => return Err(refuse()),
                }
            }
            None => return Err(refuse()),
        };
        let start_ms = month_start_ms(year, first_month).ok_or_else(refuse)?;
        let after = first_month + months;
        let end_ms = if after > 12 {
            month_start_ms(year + 1, after - 12)
        } else {
            month_start_ms(year, after)
        }
        .ok_or_else(refuse)?;
        Ok(Self {
            label: text.to_string(),
            start_ms,
            end_ms,
        })
    }
}

/// Alerts of one rule, decision and state in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertCount {
    pub rule: String,
    /// `review` or `block`.
    pub decision: String,
    /// `open`, `released` or `rejected`.
    pub state: String,
    pub count: u64,
}

/// One row of a count by a key (a state, a risk level).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCount {
    pub key: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInForce {
    pub list: String,
    pub version: i64,
    pub list_date: Option<String>,
    pub entries: u64,
}

/// What compliance counts for a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodReport {
    pub alerts: Vec<AlertCount>,
    /// Outgoing attempts a rule refused before anything was recorded (their alerts).
    pub refused_by_rules: u64,
    pub cases_opened: u64,
    /// Cases closed in the period, by how they closed.
    pub cases_closed: Vec<KeyCount>,
    pub reports_filed: u64,
    pub reports_filed_on_time: u64,
    /// Reports due in the period and not filed by their due time (filed late or not yet).
    pub reports_late: u64,
    /// Payments in or out at or above the large-payment rule's threshold (its alerts).
    pub large_transactions: u64,
    /// Customers that existed at the period's end, by risk level now.
    pub customers_by_risk: Vec<KeyCount>,
    /// Customer reviews falling due in the period.
    pub reviews_due: u64,
    /// Of those, still not done at the period's end (or now, if earlier).
    pub reviews_overdue: u64,
    pub lists_in_force: Vec<ListInForce>,
}

fn count(sql: &mut dyn Sql, query: &str, period: &Period) -> Result<u64, StoreError> {
    sql.query_one(query, &[period.start_ms.into(), period.end_ms.into()])?
        .u64("n")
}

fn key_counts(
    sql: &mut dyn Sql,
    query: &str,
    params: &[store::Value],
) -> Result<Vec<KeyCount>, StoreError> {
    sql.query(query, params)?
        .iter()
        .map(|r| {
            Ok(KeyCount {
                key: r.text("k")?.to_string(),
                count: r.u64("n")?,
            })
        })
        .collect()
}

/// Counts the period's compliance figures, as of `now_ms`.
pub fn summarize(
    sql: &mut dyn Sql,
    period: &Period,
    now_ms: i64,
) -> Result<PeriodReport, StoreError> {
    let window = [period.start_ms.into(), period.end_ms.into()];
    let alerts = sql
        .query(
            "SELECT rule, decision, state, COUNT(*) AS n FROM aml_alerts \
             WHERE created_at_ms >= $1 AND created_at_ms < $2 \
             GROUP BY rule, decision, state ORDER BY rule, decision, state",
            &window,
        )?
        .iter()
        .map(|r| {
            Ok(AlertCount {
                rule: r.text("rule")?.to_string(),
                decision: r.text("decision")?.to_string(),
                state: r.text("state")?.to_string(),
                count: r.u64("n")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let as_of_ms = now_ms.min(period.end_ms);
    let report = PeriodReport {
        large_transactions: alerts
            .iter()
            .filter(|a| a.rule == aml::LARGE_PAYMENT)
            .map(|a| a.count)
            .sum(),
        alerts,
        refused_by_rules: count(
            sql,
            "SELECT COUNT(*) AS n FROM aml_alerts WHERE direction = 'out' \
             AND payment_id IS NULL AND invoice_id IS NULL \
             AND created_at_ms >= $1 AND created_at_ms < $2",
            period,
        )?,
        cases_opened: count(
            sql,
            "SELECT COUNT(*) AS n FROM aml_cases WHERE created_at_ms >= $1 AND created_at_ms < $2",
            period,
        )?,
        cases_closed: key_counts(
            sql,
            "SELECT state AS k, COUNT(*) AS n FROM aml_cases \
             WHERE closed_at_ms >= $1 AND closed_at_ms < $2 GROUP BY state ORDER BY state",
            &window,
        )?,
        reports_filed: count(
            sql,
            "SELECT COUNT(*) AS n FROM aml_reports WHERE filed_at_ms >= $1 AND filed_at_ms < $2",
            period,
        )?,
        reports_filed_on_time: count(
            sql,
            "SELECT COUNT(*) AS n FROM aml_reports WHERE filed_at_ms >= $1 AND filed_at_ms < $2 \
             AND filed_at_ms <= due_at_ms",
            period,
        )?,
        reports_late: sql
            .query_one(
                "SELECT COUNT(*) AS n FROM aml_reports WHERE due_at_ms >= $1 AND due_at_ms < $2 \
                 AND due_at_ms < $3 AND (filed_at_ms IS NULL OR filed_at_ms > due_at_ms)",
                &[
                    period.start_ms.into(),
                    period.end_ms.into(),
                    as_of_ms.into(),
                ],
            )?
            .u64("n")?,
        customers_by_risk: key_counts(
            sql,
            "SELECT risk_level AS k, COUNT(*) AS n FROM customers WHERE created_at_ms < $1 \
             GROUP BY risk_level ORDER BY risk_level",
            &[period.end_ms.into()],
        )?,
        reviews_due: count(
            sql,
            "SELECT COUNT(*) AS n FROM customers \
             WHERE next_review_at_ms >= $1 AND next_review_at_ms < $2",
            period,
        )?,
        reviews_overdue: sql
            .query_one(
                "SELECT COUNT(*) AS n FROM customers WHERE next_review_at_ms >= $1 \
                 AND next_review_at_ms < $2 AND next_review_at_ms < $3",
                &[
                    period.start_ms.into(),
                    period.end_ms.into(),
                    as_of_ms.into(),
                ],
            )?
            .u64("n")?,
        lists_in_force: lists::in_force(sql)?
            .into_iter()
            .map(|v| ListInForce {
                list: v.list,
                version: v.version,
                list_date: v.list_date,
                entries: v.entries,
            })
            .collect(),
    };
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_quarters_are_exact_utc_ranges() {
        let nov = Period::parse("2026-11").expect("month");
        assert_eq!(nov.start_ms, 1_793_491_200_000, "2026-11-01T00:00:00Z");
        assert_eq!(nov.end_ms, 1_796_083_200_000, "2026-12-01T00:00:00Z");
        let q4 = Period::parse("2026-Q4").expect("quarter");
        assert_eq!(q4.start_ms, 1_790_812_800_000, "2026-10-01T00:00:00Z");
        assert_eq!(q4.end_ms, 1_798_761_600_000, "2027-01-01T00:00:00Z");
        let february = Period::parse("2024-02").expect("leap");
        assert_eq!(
            february.end_ms - february.start_ms,
            29 * 86_400_000,
            "a leap year"
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "2026",
            "2026-",
            "2026-00",
            "2026-13",
            "2026-1",
            "2026-011",
            "2026-Q0",
            "2026-Q5",
            "2026-q4",
            "2026-Q44",
            "1999-01",
            "+026-01",
            "２０２６-11",
            "2026-11-01",
            "-2026-11",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }
}
