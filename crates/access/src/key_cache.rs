//! Verified API keys kept in memory, so that a request does not read its key's row. Only
//! over PostgreSQL, whose trigger announces every change to a key's row (migration 0018)
//! to every process on the database: the listening replica drops that key on the notice.
//! A revocation on this replica is dropped here before `revoke` returns; on another, once
//! the notice arrives (milliseconds).
//!
//! Staleness is bounded three ways. While the listening connection is down nothing is
//! served from memory (its notices could be missed). A key read before an invalidation
//! and stored after it would survive it, so a load stores its row only if no notice came
//! in between (an epoch). And an entry is re-read after `MAX_AGE_MS` whatever happens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use store::{Listener, Notice};

use crate::apikeys::ApiKeyInfo;

/// The channel migration 0018's trigger notifies, with the key's id as payload.
pub(crate) const CHANNEL: &str = "fulgur_api_keys";
/// Keys kept; the cache is emptied when full (a key is one read away).
const MAX_KEYS: usize = 10_000;
/// An entry older than this is read again.
const MAX_AGE_MS: i64 = 60_000;

/// A key as read, with the hash its secret must match.
#[derive(Debug, Clone)]
pub(crate) struct StoredKey {
    pub info: ApiKeyInfo,
    pub secret_hash: Vec<u8>,
}

#[derive(Default)]
pub(crate) struct KeyCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Listening now: notices are arriving, so entries can be trusted.
    live: bool,
    /// Counts invalidations; a load stores its row only if none came in between.
    epoch: u64,
    keys: HashMap<String, (Arc<StoredKey>, i64)>,
}

impl KeyCache {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The key, if kept, fresh and the cache is live.
    pub fn get(&self, id: &str, now_ms: i64) -> Option<Arc<StoredKey>> {
        let state = self.lock();
        if !state.live {
            return None;
        }
        let (key, loaded_at_ms) = state.keys.get(id)?;
        // A clock stepped back makes the age unknown: read the row again.
        let age_ms = now_ms.saturating_sub(*loaded_at_ms);
        (0..MAX_AGE_MS).contains(&age_ms).then(|| Arc::clone(key))
    }

    /// Taken before reading a row: `None` when the cache is not live (do not store).
    pub fn epoch(&self) -> Option<u64> {
        let state = self.lock();
        state.live.then_some(state.epoch)
    }

    /// Keeps a row read after `epoch`, unless an invalidation came in between.
    pub fn put(&self, epoch: u64, key: Arc<StoredKey>, now_ms: i64) {
        let mut state = self.lock();
        if !state.live || state.epoch != epoch {
            return;
        }
        if state.keys.len() >= MAX_KEYS {
            state.keys.clear();
        }
        state.keys.insert(key.info.id.clone(), (key, now_ms));
    }

    /// Drops one key (its row changed).
    pub fn forget(&self, id: &str) {
        let mut state = self.lock();
        state.epoch += 1;
        state.keys.remove(id);
    }
}

impl Listener for KeyCache {
    fn notice(&self, notice: Notice) {
        match notice {
            Notice::Message(id) => self.forget(&id),
            Notice::Listening | Notice::Lost => {
                let mut state = self.lock();
                state.live = notice == Notice::Listening;
                state.epoch += 1;
                state.keys.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> Arc<StoredKey> {
        Arc::new(StoredKey {
            info: ApiKeyInfo {
                id: id.to_string(),
                tenant_id: None,
                name: "k".into(),
                roles: vec![],
                scopes: vec![],
                ip_allowlist: vec![],
                rate_tier: "default".into(),
                created_at_ms: 0,
                created_by: "test".into(),
                expires_at_ms: None,
                revoked_at_ms: None,
                rotated_to: None,
                owner: format!("key:{id}"),
            },
            secret_hash: vec![1; 32],
        })
    }

    #[test]
    fn nothing_is_kept_or_served_until_listening() {
        let cache = KeyCache::default();
        assert_eq!(cache.epoch(), None);
        cache.put(0, key("a"), 0);
        cache.notice(Notice::Listening);
        assert!(cache.get("a", 0).is_none());
        let epoch = cache.epoch().expect("live");
        cache.put(epoch, key("a"), 0);
        assert!(cache.get("a", 1).is_some());
    }

    #[test]
    fn a_row_read_before_a_notice_is_not_kept_after_it() {
        let cache = KeyCache::default();
        cache.notice(Notice::Listening);
        let epoch = cache.epoch().expect("live");
        // Another replica revokes the key while this one's read is in flight.
        cache.notice(Notice::Message("a".into()));
        cache.put(epoch, key("a"), 0);
        assert!(cache.get("a", 0).is_none());
    }

    #[test]
    fn a_notice_drops_its_key_and_a_lost_connection_drops_all() {
        let cache = KeyCache::default();
        cache.notice(Notice::Listening);
        for id in ["a", "b", "c"] {
            cache.put(cache.epoch().expect("live"), key(id), 0);
        }
        cache.notice(Notice::Message("a".into()));
        assert!(cache.get("a", 0).is_none());
        assert!(cache.get("b", 0).is_some());
        cache.notice(Notice::Lost);
        assert!(cache.get("b", 0).is_none());
        assert_eq!(cache.epoch(), None);
        cache.put(0, key("c"), 0);
        cache.notice(Notice::Listening);
        assert!(cache.get("c", 0).is_none());
    }

    #[test]
    fn entries_age_out_and_the_cache_stays_bounded() {
        let cache = KeyCache::default();
        cache.notice(Notice::Listening);
        cache.put(cache.epoch().expect("live"), key("a"), 1_000);
        assert!(cache.get("a", 1_000 + MAX_AGE_MS - 1).is_some());
        assert!(cache.get("a", 1_000 + MAX_AGE_MS).is_none());
        assert!(cache.get("a", 999).is_none(), "a clock stepped back");
        for i in 0..=MAX_KEYS {
            cache.put(cache.epoch().expect("live"), key(&format!("k{i}")), 0);
        }
        assert!(cache.lock().keys.len() <= MAX_KEYS);
    }
}
