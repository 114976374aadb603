//! The delivery backlog as gauges, computed at scrape time: how many deliveries wait and
//! how long the oldest has waited.

use kernel::GaugeSample;

use crate::{WebhookError, Webhooks};

impl Webhooks {
    pub async fn gauges(&self) -> Result<Vec<GaugeSample>, WebhookError> {
        let now = self.now_ms();
        let row = self
            .inner
            .store
            .read(|sql| {
                sql.query_one(
                    "SELECT COUNT(*) AS pending, MIN(created_at_ms) AS oldest_created_at_ms \
                     FROM webhook_deliveries \
                     WHERE state = 'pending'",
                    &[],
                )
            })
            .await?;
        let pending = row.i64("pending")?;
        let oldest_age_ms = row
            .opt_i64("oldest_created_at_ms")?
            .map_or(0, |at| now.saturating_sub(at).max(0));
        Ok(vec![
            GaugeSample::new(
                "fulgur_webhook_backlog_deliveries",
                "Webhook deliveries waiting for an attempt (retries included).",
                pending as f64,
            ),
            GaugeSample::new(
                "fulgur_webhook_oldest_pending_age_seconds",
                "How long the oldest waiting webhook delivery has waited.",
                oldest_age_ms as f64 / 1_000.0,
            ),
        ])
    }
}
