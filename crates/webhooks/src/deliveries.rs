//! The delivery log: one row per (subscription, event) with its state, and one row per
//! attempt with what the receiver answered. Redelivery gives a delivery a fresh retry
//! budget; its earlier attempts stay in the log.

use audit::AuditAction;
use kernel::{Actor, Scope};
use store::{Row, Sql, Value};

use crate::subscriptions::get_subscription;
use crate::{WebhookError, Webhooks};

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Out of attempts, or its subscription was disabled.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub subscription_id: String,
    pub event_id: String,
    pub event_type: String,
    pub state: DeliveryState,
    /// Attempts made, over every redelivery.
    pub attempts: u64,
    /// When the next attempt is due (pending only).
    pub next_attempt_at_ms: Option<i64>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
}

impl Delivery {
    const COLUMNS: &'static str = "d.id, d.subscription_id, d.event_id, o.event_type, d.state, \
         d.attempts, d.next_attempt_at_ms, d.last_status_code, d.last_error, d.created_at_ms, \
         d.delivered_at_ms";
    const FROM: &'static str = "webhook_deliveries d JOIN outbox o ON o.id = d.event_id";

    fn from_row(row: &Row) -> Result<Self, store::StoreError> {
        let state: DeliveryState = row.parse("state")?;
        Ok(Self {
            id: row.text("id")?.to_string(),
            subscription_id: row.text("subscription_id")?.to_string(),
            event_id: row.text("event_id")?.to_string(),
            event_type: row.text("event_type")?.to_string(),
            state,
            attempts: row.u64("attempts")?,
            next_attempt_at_ms: (state == DeliveryState::Pending)
                .then(|| row.i64("next_attempt_at_ms"))
                .transpose()?,
            last_status_code: row
                .opt_u64("last_status_code")?
                .map(|c| u16::try_from(c).unwrap_or(u16::MAX)),
            last_error: row.opt_text("last_error")?.map(str::to_string),
            created_at_ms: row.i64("created_at_ms")?,
            delivered_at_ms: row.opt_i64("delivered_at_ms")?,
        })
    }
}

/// One try: when, how long, and the receiver's status or why there was none.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub attempt: u64,
    pub started_at_ms: i64,
    pub duration_ms: i64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DeliveryDetail {
    pub delivery: Delivery,
    pub attempts: Vec<Attempt>,
}

fn get_delivery(
    sql: &mut dyn Sql,
    subscription_id: &str,
    id: &str,
) -> Result<Option<Delivery>, WebhookError> {
    let row = sql.query_opt(
        &format!(
            "SELECT {} FROM {} WHERE d.id = $1 AND d.subscription_id = $2",
            Delivery::COLUMNS,
            Delivery::FROM
        ),
        &[id.into(), subscription_id.into()],
    )?;
    Ok(row.as_ref().map(Delivery::from_row).transpose()?)
}

fn attempts_of(sql: &mut dyn Sql, delivery_id: &str) -> Result<Vec<Attempt>, WebhookError> {
    let rows = sql.query(
        "SELECT attempt, started_at_ms, duration_ms, status_code, error FROM webhook_attempts \
         WHERE delivery_id = $1 ORDER BY attempt",
        &[delivery_id.into()],
    )?;
    rows.iter()
        .map(|r| {
            Ok(Attempt {
                attempt: r.u64("attempt")?,
                started_at_ms: r.i64("started_at_ms")?,
                duration_ms: r.i64("duration_ms")?,
                status_code: r
                    .opt_u64("status_code")?
                    .map(|c| u16::try_from(c).unwrap_or(u16::MAX)),
                error: r.opt_text("error")?.map(str::to_string),
            })
        })
        .collect()
}

impl Webhooks {
    /// A subscription's deliveries in id (creation) order, optionally of one state.
    pub async fn deliveries(
        &self,
        scope: &Scope,
        subscription_id: &str,
        state: Option<DeliveryState>,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<Delivery>, WebhookError> {
        self.subscription(scope, subscription_id).await?;
        let subscription = subscription_id.to_string();
        let limit = kernel::page_limit(limit);
        self.inner
            .store
            .read(move |sql| {
                let rows = sql.query(
                    &format!(
                        "SELECT {} FROM {} WHERE d.subscription_id = $1 AND d.id > $2 \
                         AND ($3 = '' OR d.state = $3) ORDER BY d.id LIMIT $4",
                        Delivery::COLUMNS,
                        Delivery::FROM
                    ),
                    &[
                        subscription.into(),
                        after.unwrap_or_default().into(),
                        state.map_or("", DeliveryState::as_str).into(),
                        limit.into(),
                    ],
                )?;
                rows.iter()
                    .map(|r| Delivery::from_row(r).map_err(WebhookError::from))
                    .collect()
            })
            .await
    }

    /// One delivery with its attempt log.
    pub async fn delivery(
        &self,
        scope: &Scope,
        subscription_id: &str,
        id: &str,
    ) -> Result<DeliveryDetail, WebhookError> {
        self.subscription(scope, subscription_id).await?;
        let (subscription, owned) = (subscription_id.to_string(), id.to_string());
        self.inner
            .store
            .read(move |sql| {
                let delivery = get_delivery(sql, &subscription, &owned)?
                    .ok_or_else(|| WebhookError::UnknownDelivery(owned.clone()))?;
                let attempts = attempts_of(sql, &owned)?;
                Ok(DeliveryDetail { delivery, attempts })
            })
            .await
    }

    /// Sends a delivery again, whatever its state, with a fresh retry budget: due now.
    /// The subscription must be enabled.
    pub async fn redeliver(
        &self,
        actor: &Actor,
        subscription_id: &str,
        id: &str,
    ) -> Result<Delivery, WebhookError> {
        let tenant = self
            .subscription(&actor.scope, subscription_id)
            .await?
            .tenant_id;
        let (subscription, owned, actor) =
            (subscription_id.to_string(), id.to_string(), actor.clone());
        let now = self.now_ms();
        let delivery =
            self.inner
                .store
                .write(move |sql| {
                    let enabled = get_subscription(sql, &subscription)?.is_some_and(|s| s.enabled);
                    if !enabled {
                        return Err(WebhookError::InvalidField {
                            field: "subscription",
                            reason: "is disabled: nothing can be delivered to it".into(),
                        });
                    }
                    let changed = sql.execute(
                    "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at_ms = $3, \
                     retry_from_attempt = attempts, delivered_at_ms = NULL \
                     WHERE id = $1 AND subscription_id = $2",
                    &[owned.as_str().into(), subscription.as_str().into(), Value::Int(now)],
                )?;
                    if changed == 0 {
                        return Err(WebhookError::UnknownDelivery(owned));
                    }
                    actor.audit(sql, now, Some(&tenant), "webhook.redeliver", &owned, None)?;
                    get_delivery(sql, &subscription, &owned)?
                        .ok_or(WebhookError::UnknownDelivery(owned))
                })
                .await?;
        tracing::info!(delivery = %delivery.id, "webhook redelivery requested");
        self.inner.wake.notify_one();
        Ok(delivery)
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryState;

    #[test]
    fn states_round_trip() {
        for state in [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ] {
            assert_eq!(DeliveryState::parse(state.as_str()), Some(state));
        }
        assert_eq!(DeliveryState::parse("retrying"), None);
    }
}
