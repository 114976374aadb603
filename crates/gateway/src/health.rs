//! The gauges of the moment: `ops::Health`'s (nodes, channels, chain, store) and the
//! payments in flight per node, which only the payment domain knows, and compliance's
//! backlog (reports past due, review alerts waiting).

use kernel::GaugeSample;

use crate::{Gateway, GatewayError};

impl Gateway {
    /// The gauges of the moment: nodes (up, height, lag, liquidity), each channel's
    /// liquidity, the chain's tip, the store's connections and the payments in flight per
    /// node; suspicious activity reports past their due time and open review alerts.
    pub async fn gauges(&self) -> Result<Vec<GaugeSample>, GatewayError> {
        let mut out = self.inner.health.gauges().await;
        let in_flight = self
            .inner
            .store
            .read_one(|sql| {
                sql.query(
                    "SELECT node_name, COUNT(*) AS payments FROM payments \
                     WHERE status = 'in_flight' GROUP BY node_name",
                    &[],
                )
            })
            .await?;
        for node in self.inner.pool.status() {
            let count = in_flight
                .iter()
                .find(|row| row.opt_text("node_name").ok().flatten() == Some(node.name.as_str()))
                .and_then(|row| row.i64("payments").ok())
                .unwrap_or(0);
            out.push(
                GaugeSample::new(
                    "fulgur_payments_in_flight",
                    "Outgoing payments sent and not yet settled or failed, by node.",
                    count as f64,
                )
                .label("node", &node.name),
            );
        }
        let now = self.now_ms();
        let (overdue, waiting) = self
            .inner
            .store
            .read(move |sql| {
                Ok::<_, store::StoreError>((
                    compliance::cases::overdue_reports(sql, now)?,
                    compliance::alerts::open_reviews(sql)?,
                ))
            })
            .await?;
        out.push(GaugeSample::new(
            "fulgur_sar_overdue",
            "Suspicious activity reports drafted and not filed by their due time.",
            overdue as f64,
        ));
        out.push(GaugeSample::new(
            "fulgur_aml_review_alerts_open",
            "Monitoring alerts waiting for a compliance officer's decision.",
            waiting as f64,
        ));
        Ok(out)
    }
}
