//! Identifiers, injected so tests control them.

use std::sync::atomic::{AtomicU64, Ordering};

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
