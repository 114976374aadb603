//! Deliveries, their attempts and the outbox events they carried are operational copies:
//! once older than the configured period (`[retention] operational_days`) and final,
//! they are deleted oldest first, each step one bounded statement in its own transaction.
//! An event goes only once it was fanned out and none of its deliveries is left, so a
//! pending delivery keeps its event however old.

use store::{Sql, StoreError, Value};

use crate::{WebhookError, Webhooks};

/// Deliveries whose attempts one step deletes (at most `max_attempts` each).
const DELIVERIES_PER_ATTEMPT_STEP: i64 = 25;
/// Rows of deliveries or events one step deletes.
const ROWS_PER_STEP: i64 = 500;

/// One step: the first kind that still has rows older than `cutoff_ms` to delete;
/// returns how many went (zero: nothing more to do now).
fn step(sql: &mut dyn Sql, cutoff_ms: i64) -> Result<u64, StoreError> {
    let old_final = "SELECT d.id FROM webhook_deliveries d JOIN outbox o ON o.id = d.event_id \
         WHERE o.created_at_ms < $1 AND d.state <> 'pending'";
    let steps = [
        (
            format!(
                "DELETE FROM webhook_attempts WHERE delivery_id IN ({old_final} \
                 AND EXISTS (SELECT 1 FROM webhook_attempts a WHERE a.delivery_id = d.id) \
                 ORDER BY o.seq LIMIT $2)"
            ),
            DELIVERIES_PER_ATTEMPT_STEP,
        ),
        (
            format!(
                "DELETE FROM webhook_deliveries WHERE id IN ({old_final} \
                 AND NOT EXISTS (SELECT 1 FROM webhook_attempts a WHERE a.delivery_id = d.id) \
                 ORDER BY o.seq LIMIT $2)"
            ),
            ROWS_PER_STEP,
        ),
        (
            "DELETE FROM outbox WHERE id IN (SELECT o.id FROM outbox o \
             WHERE o.created_at_ms < $1 AND o.webhooks_fanned_out = 1 \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = o.id) \
             ORDER BY o.seq LIMIT $2)"
                .to_string(),
            ROWS_PER_STEP,
        ),
    ];
    for (statement, limit) in &steps {
        let gone = sql.execute(statement, &[Value::Int(cutoff_ms), Value::Int(*limit)])?;
        if gone > 0 {
            return Ok(gone);
        }
    }
    Ok(0)
}

impl Webhooks {
    /// Deletes final deliveries, their attempts and fanned-out events older than
    /// `keep_ms`, in at most `max_steps` bounded steps; returns the rows deleted.
    pub async fn prune(&self, keep_ms: i64, max_steps: u32) -> Result<u64, WebhookError> {
        let cutoff_ms = self.now_ms().saturating_sub(keep_ms);
        let mut deleted = 0;
        for _ in 0..max_steps {
            let gone = self
                .inner
                .store
                .write(move |sql| step(sql, cutoff_ms))
                .await
                .map_err(WebhookError::Store)?;
            if gone == 0 {
                break;
            }
            deleted += gone;
        }
        Ok(deleted)
    }
}
