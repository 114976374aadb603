//! API calls per tenant per UTC day: counted for chargeback and capped by a daily quota.
//!
//! Counting must not put a write on every request, so each replica counts in memory and
//! adds its counts to the shared row every `flush_interval_ms` (and on shutdown). The
//! upsert returns the shared total, so a replica sees the others' calls as of its last
//! flush: across replicas a quota may be overrun by what they served in one interval.
//! A crash loses at most one interval of counts (never more calls than were served).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use store::{Store, StoreError};

const DAY_MS: i64 = 86_400_000;
/// Tenant-days remembered in memory; older days are dropped once flushed.
const MAX_TRACKED: usize = 100_000;

/// Quotas: a default for every tenant and overrides per tenant; `None`: unlimited.
#[derive(Debug, Clone)]
pub struct UsageConfig {
    pub default_daily_calls: Option<u64>,
    pub tenant_daily_calls: BTreeMap<String, u64>,
    pub flush_interval_ms: i64,
}

impl Default for UsageConfig {
    /// Unlimited, flushed every 10 s.
    fn default() -> Self {
        Self {
            default_daily_calls: None,
            tenant_daily_calls: BTreeMap::new(),
            flush_interval_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// The tenant has used its `quota` for today; the next UTC day starts in `retry_after_ms`.
    OverQuota {
        quota: u64,
        retry_after_ms: i64,
    },
}

#[derive(Default)]
struct Count {
    /// The shared total as of the last flush (or first read).
    shared: u64,
    /// Being written by the flush in progress: still counted until the shared total
    /// that includes it comes back.
    flushing: u64,
    unflushed: u64,
}

impl Count {
    fn total(&self) -> u64 {
        self.shared + self.flushing + self.unflushed
    }
}

#[derive(Default)]
struct State {
    days: HashMap<(String, i64), Count>,
    last_flush_ms: i64,
}

pub struct Usage {
    store: Store,
    config: UsageConfig,
    state: Mutex<State>,
    /// One flush at a time, so totals come back in the order they were written.
    flush_turn: tokio::sync::Mutex<()>,
}

fn date(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map_or_else(|| day.to_string(), |t| t.format("%Y-%m-%d").to_string())
}

impl Usage {
    pub fn new(store: Store, config: UsageConfig) -> Self {
        Self {
            store,
            config,
            state: Mutex::new(State::default()),
            flush_turn: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn quota(&self, tenant: &str) -> Option<u64> {
        self.config
            .tenant_daily_calls
            .get(tenant)
            .copied()
            .or(self.config.default_daily_calls)
    }

    /// Counts one call of `tenant`, or refuses it when today's quota is used up (a refused
    /// call is not counted).
    pub async fn admit(&self, tenant: &str, now_ms: i64) -> Result<Admission, StoreError> {
        let day = now_ms.div_euclid(DAY_MS);
        let key = (tenant.to_string(), day);
        {
            let mut state = self.lock();
            if state.days.contains_key(&key) {
                return Ok(self.count(&mut state, key, now_ms));
            }
        }
        // First call of this tenant today in this process: start from the shared count.
        let shared = self.stored(tenant, day).await?;
        let mut state = self.lock();
        if state.days.len() >= MAX_TRACKED {
            state
                .days
                .retain(|(_, d), c| *d == day || c.unflushed + c.flushing > 0);
        }
        state.days.entry(key.clone()).or_insert(Count {
            shared,
            ..Count::default()
        });
        Ok(self.count(&mut state, key, now_ms))
    }

    /// Counts the call unless the quota is used up (a refused call is not counted).
    fn count(&self, state: &mut State, key: (String, i64), now_ms: i64) -> Admission {
        let quota = self.quota(&key.0);
        let day = key.1;
        let count = state.days.entry(key).or_default();
        if let Some(quota) = quota {
            if count.total() >= quota {
                return Admission::OverQuota {
                    quota,
                    retry_after_ms: (day + 1) * DAY_MS - now_ms,
                };
            }
        }
        count.unflushed += 1;
        Admission::Allowed
    }

    /// Whether the counts are due to be written (the caller spawns [`Usage::flush`]).
    pub fn flush_due(&self, now_ms: i64) -> bool {
        let mut state = self.lock();
        let due = now_ms - state.last_flush_ms >= self.config.flush_interval_ms;
        if due {
            state.last_flush_ms = now_ms;
        }
        due
    }

    /// Adds this replica's counts to the shared rows and learns the shared totals. On
    /// failure the counts are kept for the next flush.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let _turn = self.flush_turn.lock().await;
        let deltas: Vec<(String, i64, u64)> = {
            let mut state = self.lock();
            state
                .days
                .iter_mut()
                .filter(|(_, c)| c.unflushed > 0)
                .map(|((tenant, day), c)| {
                    c.flushing = std::mem::take(&mut c.unflushed);
                    (tenant.clone(), *day, c.flushing)
                })
                .collect()
        };
        if deltas.is_empty() {
            return Ok(());
        }
        let rows = deltas.clone();
        let written = self
            .store
            .write(move |sql| {
                rows.iter()
                    .map(|(tenant, day, calls)| {
                        let calls = i64::try_from(*calls).unwrap_or(i64::MAX);
                        let row = sql.query_one(
                            "INSERT INTO api_usage (tenant_id, day, calls) VALUES ($1, $2, $3) \
                             ON CONFLICT (tenant_id, day) \
                             DO UPDATE SET calls = api_usage.calls + excluded.calls \
                             RETURNING calls",
                            &[tenant.into(), date(*day).into(), calls.into()],
                        )?;
                        Ok(u64::try_from(row.i64("calls")?).unwrap_or(0))
                    })
                    .collect::<Result<Vec<u64>, StoreError>>()
            })
            .await;
        let mut state = self.lock();
        match written {
            Ok(totals) => {
                for ((tenant, day, _), total) in deltas.into_iter().zip(totals) {
                    let count = state.days.entry((tenant, day)).or_default();
                    count.shared = total;
                    count.flushing = 0;
                }
                Ok(())
            }
            Err(error) => {
                for (tenant, day, _) in deltas {
                    let count = state.days.entry((tenant, day)).or_default();
                    count.unflushed += std::mem::take(&mut count.flushing);
                }
                Err(error)
            }
        }
    }

    /// Calls per day of `tenant` between two dates (YYYY-MM-DD, inclusive), after a flush.
    pub async fn daily(
        &self,
        tenant: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        self.flush().await?;
        let (tenant, from, to) = (tenant.to_string(), from.to_string(), to.to_string());
        self.store
            .read(move |sql| {
                let rows = sql.query(
                    "SELECT day, calls FROM api_usage WHERE tenant_id = $1 AND day >= $2 \
                     AND day <= $3 ORDER BY day",
                    &[(&tenant).into(), (&from).into(), (&to).into()],
                )?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.text("day")?.to_string(),
                            u64::try_from(r.i64("calls")?).unwrap_or(0),
                        ))
                    })
                    .collect()
            })
            .await
    }

    async fn stored(&self, tenant: &str, day: i64) -> Result<u64, StoreError> {
        let (tenant, day) = (tenant.to_string(), date(day));
        self.store
            .read(move |sql| {
                let row = sql.query_opt(
                    "SELECT calls FROM api_usage WHERE tenant_id = $1 AND day = $2",
                    &[(&tenant).into(), (&day).into()],
                )?;
                Ok(match row {
                    Some(row) => u64::try_from(row.i64("calls")?).unwrap_or(0),
                    None => 0,
                })
            })
            .await
    }
}
