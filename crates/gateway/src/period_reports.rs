//! The compliance report of a period: compliance's own figures (`compliance::period_report`)
//! with what only the gateway knows — the payments screened and the receipts monitored —
//! read in one transaction so the figures agree with each other.

use crate::{Gateway, GatewayError};
use compliance::{Period, PeriodReport};

#[derive(Debug, Clone)]
pub struct ComplianceReport {
    pub period: Period,
    /// Outgoing payments recorded in the period (each was screened and monitored) plus
    /// the attempts screening or a rule refused before anything was recorded.
    pub payments_screened: u64,
    /// Of those, refused by screening (a listed or watch-listed payee).
    pub payments_blocked_by_screening: u64,
    /// Received payments credited in the period (each went through the inbound rules).
    pub receipts_monitored: u64,
    pub compliance: PeriodReport,
}

impl Gateway {
    /// The compliance figures of a month (`2026-11`) or a quarter (`2026-Q4`).
    pub async fn compliance_report(&self, period: &str) -> Result<ComplianceReport, GatewayError> {
        let period = Period::parse(period)?;
        let now = self.now_ms();
        Ok(self
            .inner
            .store
            .read(move |sql| {
                let window = [period.start_ms.into(), period.end_ms.into()];
                let n =
                    |sql: &mut dyn store::Sql, query: &str| sql.query_one(query, &window)?.u64("n");
                let recorded = n(
                    sql,
                    "SELECT COUNT(*) AS n FROM payments \
                     WHERE created_at_ms >= $1 AND created_at_ms < $2",
                )?;
                let refused_by_screening = n(
                    sql,
                    "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'payment.compliance_block' \
                     AND at_ms >= $1 AND at_ms < $2",
                )?;
                let receipts_monitored = n(
                    sql,
                    "SELECT COUNT(*) AS n FROM invoices \
                     WHERE paid_at_ms >= $1 AND paid_at_ms < $2",
                )?;
                let compliance = compliance::period_report::summarize(sql, &period, now)?;
                Ok::<_, store::StoreError>(ComplianceReport {
                    payments_screened: recorded
                        + compliance.refused_by_rules
                        + refused_by_screening,
                    payments_blocked_by_screening: refused_by_screening,
                    receipts_monitored,
                    compliance,
                    period,
                })
            })
            .await?)
    }
}
