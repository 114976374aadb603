//! Time and identifiers, injected so tests control them.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Milliseconds since the Unix epoch, UTC.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that moves only when told (tests).
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_ms: i64) -> Self {
        Self(AtomicI64::new(now_ms))
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// New unique ids: `prefix_` then a ULID (time-ordered, 80 random bits).
pub trait IdSource: Send + Sync {
    fn next_id(&self, prefix: &str) -> String;
}

pub struct RandomIds;

impl IdSource for RandomIds {
    fn next_id(&self, prefix: &str) -> String {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).expect("the OS provides randomness");
        let ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let id = ulid::Ulid::from_parts(ms, u128::from_le_bytes(random));
        format!("{prefix}_{}", id.to_string().to_lowercase())
    }
}

/// `prefix_000001`, `prefix_000002`, ... (tests).
#[derive(Default)]
pub struct SequentialIds(AtomicU64);

impl IdSource for SequentialIds {
    fn next_id(&self, prefix: &str) -> String {
        format!("{prefix}_{:06}", self.0.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

/// RFC 3339 in UTC with milliseconds, as every API and webhook timestamp.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
