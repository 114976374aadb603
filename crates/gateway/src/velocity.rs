//! Velocity limits: how much (in EUR cents) an account may send per UTC day and month.
//! Checked inside the transaction that records a payment, after that transaction has
//! locked the account's row (holding or moving its funds): a concurrent payment on the
//! same account waits, then sees this one. The payment being recorded counts.

use audit::AuditAction;
use chrono::{Datelike, TimeZone, Utc};
use serde::Serialize;
use store::{Sql, Value};

use crate::pipeline::{PaymentDraft, Stage, Verdict};
use crate::{Actor, Gateway, GatewayError};

const DAY_MS: i64 = 86_400_000;
/// The largest limit an account may carry: 10 trillion EUR, above any real treasury and
/// far inside a `BIGINT`.
pub const MAX_LIMIT_EUR_CENTS: u64 = 1_000_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct VelocityLimits {
    pub daily_eur_cents: Option<u64>,
    pub monthly_eur_cents: Option<u64>,
}

/// The start of `now_ms`'s UTC month.
fn month_start_ms(now_ms: i64) -> i64 {
    let now = Utc
        .timestamp_millis_opt(now_ms)
        .single()
        .unwrap_or_default();
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .map_or(0, |t| t.timestamp_millis())
}

fn limits_in(sql: &mut dyn Sql, account_id: &str) -> Result<VelocityLimits, GatewayError> {
    let row = sql.query_opt(
        "SELECT daily_eur_cents, monthly_eur_cents FROM velocity_limits WHERE account_id = $1",
        &[account_id.into()],
    )?;
    Ok(match row {
        Some(row) => VelocityLimits {
            daily_eur_cents: row.opt_u64(0)?,
            monthly_eur_cents: row.opt_u64(1)?,
        },
        None => VelocityLimits::default(),
    })
}

/// Refuses (rolling back the caller's transaction) if the account's payments since the
/// start of the day or month, this one included, exceed its limits.
/// The limits slot of the pipeline: decided in the payment's transaction, with the payer's
/// row locked, so two concurrent payments cannot both slip under a limit.
pub(crate) struct VelocityStage;

#[async_trait::async_trait]
impl Stage for VelocityStage {
    fn name(&self) -> &'static str {
        "velocity"
    }

    fn in_tx(
        &self,
        sql: &mut dyn Sql,
        draft: &PaymentDraft,
        now_ms: i64,
    ) -> Result<Verdict, GatewayError> {
        check_velocity(sql, &draft.account.id, draft.eur_cents, now_ms)?;
        Ok(Verdict::Allow)
    }
}

/// Refuses a payment of `eur_cents` that would take the account past a limit, counting
/// what it has sent (or holds for sending) in the window.
fn check_velocity(
    sql: &mut dyn Sql,
    account_id: &str,
    eur_cents: u64,
    now_ms: i64,
) -> Result<(), GatewayError> {
    let limits = limits_in(sql, account_id)?;
    let windows = [
        (
            "daily",
            limits.daily_eur_cents,
            now_ms - now_ms.rem_euclid(DAY_MS),
        ),
        ("monthly", limits.monthly_eur_cents, month_start_ms(now_ms)),
    ];
    for (window, limit, since_ms) in windows {
        let Some(limit) = limit else { continue };
        let sent = sql
            .query_one(
                "SELECT CAST(COALESCE(SUM(eur_cents), 0) AS BIGINT) FROM payments \
                 WHERE account_id = $1 AND created_at_ms >= $2 \
                 AND status NOT IN ('failed', 'rejected')",
                &[account_id.into(), Value::Int(since_ms)],
            )?
            .i64(0)?;
        let would_be = u64::try_from(sent).unwrap_or(0).saturating_add(eur_cents);
        if would_be > limit {
            return Err(GatewayError::VelocityLimitExceeded {
                window,
                limit_eur_cents: limit,
                would_be_eur_cents: would_be,
            });
        }
    }
    Ok(())
}

impl Gateway {
    /// Sets (or, with both `None`, lifts) an account's velocity limits; audited.
    pub async fn set_velocity_limits(
        &self,
        actor: &Actor,
        account_id: &str,
        limits: VelocityLimits,
    ) -> Result<VelocityLimits, GatewayError> {
        for (field, limit) in [
            ("daily_eur_cents", limits.daily_eur_cents),
            ("monthly_eur_cents", limits.monthly_eur_cents),
        ] {
            if limit.is_some_and(|cents| cents > MAX_LIMIT_EUR_CENTS) {
                return Err(GatewayError::InvalidField {
                    field,
                    reason: format!("at most {MAX_LIMIT_EUR_CENTS} EUR cents"),
                });
            }
        }
        let account = self.account(&actor.scope, account_id).await?;
        let (actor, now) = (actor.clone(), self.now_ms());
        self.inner
            .store
            .write(move |sql| {
                sql.execute(
                    "INSERT INTO velocity_limits \
                     (account_id, daily_eur_cents, monthly_eur_cents, updated_at_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO UPDATE SET \
                     daily_eur_cents = $2, monthly_eur_cents = $3, updated_at_ms = $4",
                    &[
                        account.id.as_str().into(),
                        limits.daily_eur_cents.into(),
                        limits.monthly_eur_cents.into(),
                        Value::Int(now),
                    ],
                )?;
                let details = Some(format!(
                    "daily_eur_cents={:?} monthly_eur_cents={:?}",
                    limits.daily_eur_cents, limits.monthly_eur_cents
                ));
                actor.audit(
                    sql,
                    now,
                    Some(&account.tenant_id),
                    "account.limits",
                    &account.id,
                    details,
                )?;
                limits_in(sql, &account.id)
            })
            .await
    }

    /// An account's velocity limits (none set: both `None`).
    pub async fn velocity_limits(
        &self,
        scope: &crate::Scope,
        account_id: &str,
    ) -> Result<VelocityLimits, GatewayError> {
        let account = self.account(scope, account_id).await?;
        self.inner
            .store
            .read(move |sql| limits_in(sql, &account.id))
            .await
    }
}
