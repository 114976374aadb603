//! Per-credential rate limits (GCRA, the `governor` crate) in named tiers, and throttling
//! of repeated authentication failures per source address and presented key id (so that
//! a stranger's bad guesses never lock out a valid key behind the same proxy). Every map
//! is bounded and pruned as it is used.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A tier's sustained rate and burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct RateTier {
    pub per_second: u32,
    pub burst: u32,
}

/// Rate-limit settings. Defaults: tier `standard` 1,000 requests/s with bursts of 2,000,
/// tier `bulk` 20,000/s with bursts of 40,000 (batch integrations, benchmarks); an unknown
/// tier gets `standard`; 10 authentication failures per source address and presented key
/// id per minute, then that pair's failures are answered 429 until the next is allowed (a
/// valid credential is never refused).
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    pub tiers: BTreeMap<String, RateTier>,
    pub default_tier: String,
    pub auth_failures_per_minute: u32,
    /// Per-tenant daily call quotas (default: counted, unlimited).
    pub quotas: access::UsageConfig,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            tiers: BTreeMap::from([
                (
                    "standard".to_string(),
                    RateTier {
                        per_second: 1_000,
                        burst: 2_000,
                    },
                ),
                (
                    "bulk".to_string(),
                    RateTier {
                        per_second: 20_000,
                        burst: 40_000,
                    },
                ),
            ]),
            default_tier: "standard".to_string(),
            auth_failures_per_minute: 10,
            quotas: access::UsageConfig::default(),
        }
    }
}

type Limiter = DefaultKeyedRateLimiter<String, StateInformationMiddleware>;

/// The answer for one request: allowed with what is left, or refused until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed { limit: u32, remaining: u32 },
    Refused { limit: u32, retry_after: Duration },
}

/// Most (source, key id) pairs remembered as throttled; beyond it expired entries go
/// first, and a new pair is not remembered until there is room.
const MAX_THROTTLED_SOURCES: usize = 100_000;
/// The limiters forget idle keys every this many checks (governor keeps a state per key
/// until told to drop the ones back at full capacity).
const PRUNE_EVERY_CHECKS: u64 = 4_096;

/// Whose failures are counted together: a source address and the key id presented (or
/// what kind of credential, when it names no key).
pub type FailureKey = (IpAddr, String);

pub struct RateLimits {
    tiers: HashMap<String, (Limiter, u32)>,
    default_tier: String,
    failures: DefaultKeyedRateLimiter<FailureKey>,
    throttled: Mutex<HashMap<FailureKey, Instant>>,
    clock: DefaultClock,
    checks: AtomicU64,
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("at least 1")
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        let mut tiers = HashMap::new();
        for (name, tier) in &config.tiers {
            let quota =
                Quota::per_second(nonzero(tier.per_second)).allow_burst(nonzero(tier.burst));
            let limiter = RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>();
            tiers.insert(name.clone(), (limiter, tier.burst.max(1)));
        }
        let failures = Quota::per_minute(nonzero(config.auth_failures_per_minute));
        Self {
            tiers,
            default_tier: config.default_tier.clone(),
            failures: RateLimiter::keyed(failures),
            throttled: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// Drops the state of keys back at full capacity and of expired throttles.
    pub fn prune(&self) {
        for (limiter, _) in self.tiers.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.failures.retain_recent();
        self.failures.shrink_to_fit();
        let now = Instant::now();
        let mut throttled = self.throttled.lock().unwrap_or_else(|p| p.into_inner());
        throttled.retain(|_, until| *until > now);
        throttled.shrink_to_fit();
    }

    /// How many keys the limiters hold state for (credentials, failure pairs, throttles).
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        let throttled = self
            .throttled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        self.tiers.values().map(|(l, _)| l.len()).sum::<usize>() + self.failures.len() + throttled
    }

    fn count_check(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY_CHECKS
            == PRUNE_EVERY_CHECKS - 1
        {
            self.prune();
        }
    }

    /// Counts one request of `credential` against its tier.
    pub fn check(&self, credential: &str, tier: &str) -> Decision {
        self.count_check();
        let Some((limiter, limit)) = self
            .tiers
            .get(tier)
            .or_else(|| self.tiers.get(&self.default_tier))
        else {
            return Decision::Allowed {
                limit: u32::MAX,
                remaining: u32::MAX,
            };
        };
        match limiter.check_key(&credential.to_string()) {
            Ok(snapshot) => Decision::Allowed {
                limit: *limit,
                remaining: snapshot.remaining_burst_capacity(),
            },
            Err(not_until) => Decision::Refused {
                limit: *limit,
                retry_after: not_until.wait_time_from(self.clock.now()),
            },
        }
    }

    /// How long failures of `key` must still wait after too many of them.
    pub fn throttled(&self, key: &FailureKey) -> Option<Duration> {
        let mut throttled = self.throttled.lock().unwrap_or_else(|p| p.into_inner());
        let until = *throttled.get(key)?;
        let now = Instant::now();
        if until <= now {
            throttled.remove(key);
            return None;
        }
        Some(until - now)
    }

    /// Counts an authentication failure of `key`; past the allowance the pair is
    /// throttled until the next failure would be allowed.
    pub fn record_failure(&self, key: FailureKey) {
        self.count_check();
        if let Err(not_until) = self.failures.check_key(&key) {
            let wait = not_until.wait_time_from(self.clock.now());
            let mut throttled = self.throttled.lock().unwrap_or_else(|p| p.into_inner());
            if throttled.len() >= MAX_THROTTLED_SOURCES {
                let now = Instant::now();
                throttled.retain(|_, until| *until > now);
            }
            if throttled.len() < MAX_THROTTLED_SOURCES {
                throttled.insert(key, Instant::now() + wait);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tier_allows_its_burst_then_refuses_with_a_wait() {
        let config = RateLimitConfig {
            tiers: BTreeMap::from([(
                "t".to_string(),
                RateTier {
                    per_second: 1,
                    burst: 3,
                },
            )]),
            default_tier: "t".to_string(),
            auth_failures_per_minute: 2,
            quotas: access::UsageConfig::default(),
        };
        let limits = RateLimits::new(&config);
        let remaining: Vec<_> = (0..3)
            .map(|_| match limits.check("key_a", "t") {
                Decision::Allowed { remaining, .. } => remaining,
                refused => panic!("{refused:?}"),
            })
            .collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        match limits.check("key_a", "unknown tier falls back") {
            Decision::Refused { limit, retry_after } => {
                assert_eq!(limit, 3);
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1));
            }
            allowed => panic!("{allowed:?}"),
        }
        assert!(
            matches!(limits.check("key_b", "t"), Decision::Allowed { .. }),
            "per key"
        );
    }

    #[test]
    fn repeated_failures_throttle_the_source_and_key_pair_only() {
        let limits = RateLimits::new(&RateLimitConfig {
            auth_failures_per_minute: 2,
            ..RateLimitConfig::default()
        });
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let bogus = (ip, "key_bogus".to_string());
        limits.record_failure(bogus.clone());
        limits.record_failure(bogus.clone());
        assert_eq!(limits.throttled(&bogus), None, "within the allowance");
        limits.record_failure(bogus.clone());
        let wait = limits.throttled(&bogus).expect("throttled");
        assert!(wait <= Duration::from_secs(30), "{wait:?}");
        assert_eq!(limits.throttled(&(ip, "key_real".to_string())), None);
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        assert_eq!(limits.throttled(&(other, "key_bogus".to_string())), None);
    }

    #[test]
    fn pruning_forgets_idle_credentials() {
        let limits = RateLimits::new(&RateLimitConfig::default());
        for n in 0..1_000 {
            assert!(matches!(
                limits.check(&format!("key_{n}"), "standard"),
                Decision::Allowed { .. }
            ));
        }
        assert!(limits.tracked() >= 1_000, "{}", limits.tracked());
        // One request each is far below a burst of 2,000: every key is back at full
        // capacity within a millisecond at 1,000/s... after its emission interval.
        std::thread::sleep(Duration::from_millis(5));
        limits.prune();
        assert_eq!(limits.tracked(), 0);
    }
}
