//! The dispatcher: fans outbox events out to subscriptions, claims due deliveries, sends
//! them signed, and records each attempt. Every step is one transaction, so a crash
//! anywhere loses nothing: an event not yet marked fanned out is fanned out again (a
//! delivery per subscription and event is unique), and a claimed delivery whose result was
//! never recorded is retried when its lease runs out. Hence at least once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use store::{Sql, Value};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::secrets::SecretSource;
use crate::signature::{sign, SIGNATURE_HEADER};
use crate::subscriptions::Subscription;
use crate::transport::{Outgoing, Transport};
use crate::{WebhookConfig, WebhookError, Webhooks};

/// Delay before retry number `failures` (1 after the first failure): the initial backoff
/// doubled per failure, capped.
pub fn backoff_ms(config: &WebhookConfig, failures: u32) -> i64 {
    let doublings = failures.saturating_sub(1).min(62);
    config
        .initial_backoff_ms
        .saturating_mul(1_i64 << doublings)
        .min(config.max_backoff_ms)
}

/// Creates the deliveries for up to `batch` events not yet fanned out and marks them;
/// returns how many events it handled.
fn fan_out(
    sql: &mut dyn Sql,
    ids: &dyn kernel::IdSource,
    now_ms: i64,
    batch: u32,
) -> Result<usize, WebhookError> {
    let events = sql.query(
        "SELECT seq, id, tenant_id, event_type FROM outbox \
         WHERE webhooks_fanned_out = 0 ORDER BY seq LIMIT $1",
        &[batch.into()],
    )?;
    let mut by_tenant: HashMap<String, Vec<Subscription>> = HashMap::new();
    for event in &events {
        let (seq, event_id, tenant, event_type) = (
            event.i64("seq")?,
            event.text("id")?,
            event.text("tenant_id")?,
            event.text("event_type")?,
        );
        if !by_tenant.contains_key(tenant) {
            let rows = sql.query(
                &format!(
                    "SELECT {} FROM webhook_subscriptions WHERE tenant_id = $1 AND enabled = 1",
                    Subscription::COLUMNS
                ),
                &[tenant.into()],
            )?;
            let subscriptions = rows
                .iter()
                .map(Subscription::from_row)
                .collect::<Result<_, _>>()?;
            by_tenant.insert(tenant.to_string(), subscriptions);
        }
        for subscription in &by_tenant[tenant] {
            if !subscription.wants(seq, event_type) {
                continue;
            }
            sql.execute_pipelined(
                "INSERT INTO webhook_deliveries \
                 (id, subscription_id, event_id, state, attempts, next_attempt_at_ms, created_at_ms) \
                 VALUES ($1, $2, $3, 'pending', 0, $4, $4) \
                 ON CONFLICT (subscription_id, event_id) DO NOTHING",
                &[
                    ids.next_id("whd").into(),
                    subscription.id.as_str().into(),
                    event_id.into(),
                    Value::Int(now_ms),
                ],
            )?;
        }
        sql.execute_pipelined(
            "UPDATE outbox SET webhooks_fanned_out = 1 WHERE seq = $1",
            &[Value::Int(seq)],
        )?;
    }
    Ok(events.len())
}

/// A claimed delivery with all it takes to send it.
struct Due {
    delivery_id: String,
    event_id: String,
    event_type: String,
    url: String,
    /// The current secret, then a rotated-out one still valid.
    secrets: Vec<SecretSource>,
    payload: String,
    /// The number this attempt gets in the log.
    attempt: u64,
    retry_from_attempt: u64,
    /// When the delivery was created (its event fanned out): where its lag starts.
    created_at_ms: i64,
}

/// Claims up to `limit` due deliveries for one lease; fails at once those whose
/// subscription was disabled.
fn claim_due(
    sql: &mut dyn Sql,
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<Due>, WebhookError> {
    let candidates = sql.query(
        "SELECT d.id, d.attempts, d.retry_from_attempt, s.enabled, s.url, s.secret, \
         o.id AS event_id, o.event_type, o.payload, s.previous_secret, s.previous_secret_expires_at_ms, \
         d.created_at_ms, s.secret_name, s.previous_secret_name \
         FROM webhook_deliveries d \
         JOIN webhook_subscriptions s ON s.id = d.subscription_id \
         JOIN outbox o ON o.id = d.event_id \
         WHERE d.state = 'pending' AND d.next_attempt_at_ms <= $1 \
         ORDER BY d.next_attempt_at_ms LIMIT $2",
        &[Value::Int(now_ms), u64::try_from(limit).unwrap_or(0).into()],
    )?;
    let mut due = Vec::with_capacity(candidates.len());
    for row in &candidates {
        let delivery_id = row.text("id")?;
        if !row.bool("enabled")? {
            sql.execute(
                "UPDATE webhook_deliveries SET state = 'failed', \
                 last_error = 'subscription disabled' WHERE id = $1 AND state = 'pending'",
                &[delivery_id.into()],
            )?;
            continue;
        }
        // Re-checked here: another dispatcher may have claimed it since the SELECT.
        let claimed = sql.execute(
            "UPDATE webhook_deliveries SET next_attempt_at_ms = $2 \
             WHERE id = $1 AND state = 'pending' AND next_attempt_at_ms <= $3",
            &[
                delivery_id.into(),
                Value::Int(now_ms.saturating_add(lease_ms)),
                Value::Int(now_ms),
            ],
        )?;
        if claimed == 1 {
            due.push(Due {
                delivery_id: delivery_id.to_string(),
                attempt: row.u64("attempts")? + 1,
                retry_from_attempt: row.u64("retry_from_attempt")?,
                url: row.text("url")?.to_string(),
                secrets: {
                    let previous_valid =
                        row.opt_i64("previous_secret_expires_at_ms")? > Some(now_ms);
                    SecretSource::of(row.opt_text("secret_name")?, row.opt_text("secret")?)
                        .into_iter()
                        .chain(
                            SecretSource::of(
                                row.opt_text("previous_secret_name")?,
                                row.opt_text("previous_secret")?,
                            )
                            .filter(|_| previous_valid),
                        )
                        .collect()
                },
                event_id: row.text("event_id")?.to_string(),
                event_type: row.text("event_type")?.to_string(),
                payload: row.text("payload")?.to_string(),
                created_at_ms: row.i64("created_at_ms")?,
            });
        }
    }
    Ok(due)
}

/// What one attempt came to.
struct Outcome {
    started_at_ms: i64,
    finished_at_ms: i64,
    result: Result<u16, String>,
}

/// Logs the attempt and moves the delivery on: delivered on 2xx; otherwise due again
/// after the backoff, or failed once the retry budget is spent. Returns the new state.
fn record(
    sql: &mut dyn Sql,
    config: &WebhookConfig,
    due: &Due,
    outcome: &Outcome,
) -> Result<&'static str, WebhookError> {
    let (status, error) = match &outcome.result {
        Ok(code) if (200..300).contains(code) => (Some(*code), None),
        Ok(code) => (Some(*code), Some(format!("receiver answered {code}"))),
        Err(e) => (None, Some(e.clone())),
    };
    sql.execute(
        "INSERT INTO webhook_attempts \
         (delivery_id, attempt, started_at_ms, duration_ms, status_code, error) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (delivery_id, attempt) DO NOTHING",
        &[
            due.delivery_id.as_str().into(),
            due.attempt.into(),
            Value::Int(outcome.started_at_ms),
            Value::Int(outcome.finished_at_ms - outcome.started_at_ms),
            status.map(u32::from).into(),
            error.clone().into(),
        ],
    )?;
    let now = outcome.finished_at_ms;
    let failures =
        u32::try_from(due.attempt.saturating_sub(due.retry_from_attempt)).unwrap_or(u32::MAX);
    let (state, next_attempt_at_ms, delivered_at_ms) = if error.is_none() {
        ("delivered", now, Some(now))
    } else if failures >= config.max_attempts {
        ("failed", now, None)
    } else {
        (
            "pending",
            now.saturating_add(backoff_ms(config, failures)),
            None,
        )
    };
    sql.execute(
        "UPDATE webhook_deliveries SET state = $2, attempts = $3, next_attempt_at_ms = $4, \
         last_status_code = $5, last_error = $6, delivered_at_ms = $7 \
         WHERE id = $1 AND state = 'pending'",
        &[
            due.delivery_id.as_str().into(),
            state.into(),
            due.attempt.into(),
            Value::Int(next_attempt_at_ms),
            status.map(u32::from).into(),
            error.into(),
            delivered_at_ms.map(Value::Int).unwrap_or(Value::Null),
        ],
    )?;
    Ok(state)
}

/// Counts an attempt by what it came to; a delivery's lag is from its creation to the
/// answer that delivered it.
fn observe(state: &str, lag_ms: i64) {
    let outcome = match state {
        "delivered" => "delivered",
        "failed" => "gave_up",
        _ => "retrying",
    };
    metrics::counter!("fulgur_webhook_attempts_total", "outcome" => outcome).increment(1);
    if outcome == "delivered" {
        metrics::histogram!("fulgur_webhook_delivery_lag_seconds")
            .record(lag_ms.max(0) as f64 / 1_000.0);
    }
}

/// A running dispatcher; `stop` ends it after the requests in flight finish.
pub struct DispatcherHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl DispatcherHandle {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "webhook dispatcher panicked");
        }
    }
}

impl Webhooks {
    /// Starts the dispatcher on the current runtime. One per process; several processes on
    /// one PostgreSQL store share the work (claims are leases).
    pub fn spawn_dispatcher(&self, transport: Arc<dyn Transport>) -> DispatcherHandle {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(self.clone().dispatch(transport, stopped));
        DispatcherHandle { stop, task }
    }

    async fn dispatch(self, transport: Arc<dyn Transport>, mut stopped: watch::Receiver<bool>) {
        let config = self.inner.config.clone();
        let permits = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
        let mut sends = JoinSet::new();
        let poll = Duration::from_millis(config.poll_interval_ms.max(1));
        loop {
            let free = permits.available_permits();
            if free > 0 {
                match self.round(free).await {
                    Ok(due) => {
                        for due in due {
                            let permit = Arc::clone(&permits)
                                .try_acquire_owned()
                                .expect("claimed no more than the free permits");
                            let (webhooks, transport) = (self.clone(), Arc::clone(&transport));
                            sends.spawn(async move {
                                webhooks.send(transport.as_ref(), due).await;
                                drop(permit);
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "claiming webhook deliveries failed"),
                }
            }
            while sends.try_join_next().is_some() {}
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = self.inner.wake.notified() => {}
                _ = stopped.changed() => break,
            }
        }
        while sends.join_next().await.is_some() {}
    }

    /// One round run to its end: fans out, claims up to `limit` due deliveries and sends
    /// them one after another; answers how many were sent. For a caller that schedules
    /// the dispatcher itself (and tests, which move the clock between rounds).
    pub async fn dispatch_once(
        &self,
        transport: &dyn Transport,
        limit: usize,
    ) -> Result<usize, WebhookError> {
        let due = self.round(limit.max(1)).await?;
        let sent = due.len();
        for due in due {
            self.send(transport, due).await;
        }
        Ok(sent)
    }

    /// Fans out what the outbox holds, then claims up to `limit` due deliveries. A failed
    /// fan-out does not stop the claims: deliveries already made are still due.
    async fn round(&self, limit: usize) -> Result<Vec<Due>, WebhookError> {
        if let Err(e) = self.fan_out_all().await {
            tracing::warn!(error = %e, "webhook fan-out failed; retrying");
        }
        self.claim(limit).await
    }

    /// Fans out until the outbox has nothing left (bounded per round).
    async fn fan_out_all(&self) -> Result<(), WebhookError> {
        const MAX_BATCHES_PER_ROUND: usize = 16;
        let batch = self.inner.config.fan_out_batch.clamp(1, 1_000);
        for _ in 0..MAX_BATCHES_PER_ROUND {
            // A read first, so an idle dispatcher never takes the write lock.
            let pending = self
                .inner
                .store
                .read_one(|sql| {
                    sql.query_opt(
                        "SELECT seq FROM outbox WHERE webhooks_fanned_out = 0 LIMIT 1",
                        &[],
                    )
                })
                .await?;
            if pending.is_none() {
                return Ok(());
            }
            let (ids, now) = (Arc::clone(&self.inner.ids), self.now_ms());
            let handled = self
                .inner
                .store
                .write(move |sql| fan_out(sql, ids.as_ref(), now, batch))
                .await?;
            if handled < batch as usize {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn claim(&self, limit: usize) -> Result<Vec<Due>, WebhookError> {
        let now = self.now_ms();
        let any_due = self
            .inner
            .store
            .read(move |sql| {
                sql.query_opt(
                    "SELECT id FROM webhook_deliveries \
                     WHERE state = 'pending' AND next_attempt_at_ms <= $1 LIMIT 1",
                    &[Value::Int(now)],
                )
            })
            .await?;
        if any_due.is_none() {
            return Ok(Vec::new());
        }
        let lease = self.inner.config.lease_ms();
        self.inner
            .store
            .write(move |sql| claim_due(sql, now, lease, limit))
            .await
    }

    async fn send(&self, transport: &dyn Transport, due: Due) {
        let started_at_ms = self.now_ms();
        let result = match self.signing_secrets(&due.secrets).await {
            Ok(secrets) => self.post(transport, &due, &secrets, started_at_ms).await,
            // Nothing is sent unsigned: the attempt fails and is retried. The cause goes to
            // the operator's log, not to the tenant's delivery log.
            Err(e) => {
                tracing::warn!(delivery = %due.delivery_id, error = %e, "webhook signing secret unavailable");
                Err("not sent: signing secret unavailable".to_string())
            }
        };
        let outcome = Outcome {
            started_at_ms,
            finished_at_ms: self.now_ms().max(started_at_ms),
            result,
        };
        self.settle(due, outcome).await;
    }

    /// Posts the delivery signed with `secrets`; the receiver's status code or the error.
    async fn post(
        &self,
        transport: &dyn Transport,
        due: &Due,
        secrets: &[zeroize::Zeroizing<String>],
        started_at_ms: i64,
    ) -> Result<u16, String> {
        let body = Bytes::from(due.payload.clone());
        let request = Outgoing {
            url: due.url.clone(),
            headers: vec![
                ("content-type", "application/json".to_string()),
                (
                    SIGNATURE_HEADER,
                    sign(
                        &secrets.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                        started_at_ms.div_euclid(1_000),
                        &body,
                    ),
                ),
                ("Fulgur-Event-Id", due.event_id.clone()),
                ("Fulgur-Event-Type", due.event_type.clone()),
                ("Fulgur-Delivery-Id", due.delivery_id.clone()),
                ("Fulgur-Delivery-Attempt", due.attempt.to_string()),
            ],
            body,
        };
        transport.post(request).await
    }

    /// Records an attempt and moves the delivery on.
    async fn settle(&self, due: Due, outcome: Outcome) {
        match &outcome.result {
            Ok(code) => {
                tracing::debug!(delivery = %due.delivery_id, attempt = due.attempt, code, "webhook sent")
            }
            Err(e) => {
                tracing::info!(delivery = %due.delivery_id, attempt = due.attempt, error = %e, "webhook not delivered")
            }
        }
        let config = self.inner.config.clone();
        let lag_ms = outcome.finished_at_ms.saturating_sub(due.created_at_ms);
        let recorded = self
            .inner
            .store
            .write(move |sql| record(sql, &config, &due, &outcome))
            .await;
        match recorded {
            Ok(state) => observe(state, lag_ms),
            // The lease runs out and the delivery is sent again: at least once.
            Err(e) => tracing::warn!(error = %e, "recording a webhook attempt failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_initial_delay_up_to_the_cap() {
        let config = WebhookConfig {
            initial_backoff_ms: 5_000,
            max_backoff_ms: 60_000,
            ..WebhookConfig::default()
        };
        let delays: Vec<i64> = (1..=6).map(|n| backoff_ms(&config, n)).collect();
        assert_eq!(delays, [5_000, 10_000, 20_000, 40_000, 60_000, 60_000]);
        assert_eq!(backoff_ms(&config, u32::MAX), 60_000);
        assert_eq!(backoff_ms(&config, 0), 5_000);
    }
}
