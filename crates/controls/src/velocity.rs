//! Velocity limits: how much (in EUR cents) an account may send per UTC day and month.
//! The caller checks inside the transaction that records a payment, after it has locked
//! the account's row, so a concurrent payment on the same account waits, then sees this
//! one; it counts what the account sent since a window's start (the payment being recorded
//! included), which this crate does not know how to do.

use audit::AuditAction;
use chrono::{Datelike, TimeZone, Utc};
use kernel::Actor;
use serde::Serialize;
use store::{Sql, StoreError, Value};

use crate::ControlsError;

const DAY_MS: i64 = 86_400_000;
/// The largest limit an account may carry: 10 trillion EUR, above any real treasury and
/// far inside a `BIGINT`.
pub const MAX_LIMIT_EUR_CENTS: u64 = 1_000_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct VelocityLimits {
    pub daily_eur_cents: Option<u64>,
    pub monthly_eur_cents: Option<u64>,
}

impl VelocityLimits {
    /// Refuses a limit above [`MAX_LIMIT_EUR_CENTS`].
    pub fn validate(&self) -> Result<(), ControlsError> {
        for (field, limit) in [
            ("daily_eur_cents", self.daily_eur_cents),
            ("monthly_eur_cents", self.monthly_eur_cents),
        ] {
            if limit.is_some_and(|cents| cents > MAX_LIMIT_EUR_CENTS) {
                return Err(ControlsError::InvalidField {
                    field,
                    reason: format!("at most {MAX_LIMIT_EUR_CENTS} EUR cents"),
                });
            }
        }
        Ok(())
    }
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

/// An account's limits (none set: both `None`).
pub fn limits(sql: &mut dyn Sql, account_id: &str) -> Result<VelocityLimits, StoreError> {
    let row = sql.query_opt(
        "SELECT daily_eur_cents, monthly_eur_cents FROM velocity_limits WHERE account_id = $1",
        &[account_id.into()],
    )?;
    Ok(match row {
        Some(row) => VelocityLimits {
            daily_eur_cents: row.opt_u64("daily_eur_cents")?,
            monthly_eur_cents: row.opt_u64("monthly_eur_cents")?,
        },
        None => VelocityLimits::default(),
    })
}

/// Sets (or, with both `None`, lifts) the limits of `account_id` (of `tenant_id`); audited.
pub fn set_limits(
    sql: &mut dyn Sql,
    actor: &Actor,
    (tenant_id, account_id): (&str, &str),
    limits: VelocityLimits,
    now: i64,
) -> Result<VelocityLimits, ControlsError> {
    limits.validate()?;
    sql.execute(
        "INSERT INTO velocity_limits \
         (account_id, daily_eur_cents, monthly_eur_cents, updated_at_ms) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO UPDATE SET \
         daily_eur_cents = $2, monthly_eur_cents = $3, updated_at_ms = $4",
        &[
            account_id.into(),
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
        Some(tenant_id),
        "account.limits",
        account_id,
        details,
    )?;
    Ok(self::limits(sql, account_id)?)
}

/// Refuses a payment of `eur_cents` that would take the account past one of `limits`;
/// `sent_since(window_start_ms)` is what the account has sent (or holds for sending) since.
pub fn check<E: From<ControlsError>>(
    limits: VelocityLimits,
    eur_cents: u64,
    now_ms: i64,
    mut sent_since: impl FnMut(i64) -> Result<u64, E>,
) -> Result<(), E> {
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
        let would_be = sent_since(since_ms)?.saturating_add(eur_cents);
        if would_be > limit {
            return Err(ControlsError::VelocityLimitExceeded {
                window,
                limit_eur_cents: limit,
                would_be_eur_cents: would_be,
            }
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-05T12:00:00Z.
    const NOON_MS: i64 = 1_796_472_000_000;

    #[test]
    fn windows_start_at_utc_midnight_and_the_first_of_the_month() {
        let mut asked = Vec::new();
        let limits = VelocityLimits {
            daily_eur_cents: Some(100),
            monthly_eur_cents: Some(1_000),
        };
        check::<ControlsError>(limits, 1, NOON_MS, |since| {
            asked.push(since);
            Ok(0)
        })
        .expect("under both limits");
        assert_eq!(asked, [NOON_MS - 12 * 3_600_000, 1_796_083_200_000]);
    }

    #[test]
    fn the_payment_itself_counts_and_the_limit_is_inclusive() {
        let limits = VelocityLimits {
            daily_eur_cents: Some(100),
            monthly_eur_cents: None,
        };
        assert!(check::<ControlsError>(limits, 40, NOON_MS, |_| Ok(60)).is_ok());
        let refused =
            check::<ControlsError>(limits, 41, NOON_MS, |_| Ok(60)).expect_err("one cent over");
        assert!(matches!(
            refused,
            ControlsError::VelocityLimitExceeded {
                window: "daily",
                limit_eur_cents: 100,
                would_be_eur_cents: 101
            }
        ));
    }

    #[test]
    fn limits_above_the_maximum_are_refused() {
        let limits = VelocityLimits {
            daily_eur_cents: None,
            monthly_eur_cents: Some(MAX_LIMIT_EUR_CENTS + 1),
        };
        assert!(matches!(
            limits.validate(),
            Err(ControlsError::InvalidField {
                field: "monthly_eur_cents",
                ..
            })
        ));
    }
}
