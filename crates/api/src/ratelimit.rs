//! Per-credential rate limits (GCRA, the `governor` crate) in named tiers, and throttling
//! of repeated authentication failures per source address.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::num::NonZeroU32;
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
/// tier gets `standard`; 10 authentication failures per source address per minute, then
/// that address is refused until the next is allowed.
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

/// Most source addresses remembered as throttled; beyond it the oldest entries go first.
const MAX_THROTTLED_SOURCES: usize = 100_000;

pub struct RateLimits {
    tiers: HashMap<String, (Limiter, u32)>,
    default_tier: String,
    failures: DefaultKeyedRateLimiter<IpAddr>,
    throttled: Mutex<HashMap<IpAddr, Instant>>,
    clock: DefaultClock,
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
        }
    }

    /// Counts one request of `credential` against its tier.
    pub fn check(&self, credential: &str, tier: &str) -> Decision {
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

    /// How long `source` must still wait after too many authentication failures.
    pub fn throttled(&self, source: IpAddr) -> Option<Duration> {
        let mut throttled = self.throttled.lock().expect("not poisoned");
        let until = *throttled.get(&source)?;
        let now = Instant::now();
        if until <= now {
            throttled.remove(&source);
            return None;
        }
        Some(until - now)
    }

    /// Counts an authentication failure from `source`; past the allowance the address is
    /// throttled until the next failure would be allowed.
    pub fn record_failure(&self, source: IpAddr) {
        if let Err(not_until) = self.failures.check_key(&source) {
            let wait = not_until.wait_time_from(self.clock.now());
            let mut throttled = self.throttled.lock().expect("not poisoned");
            if throttled.len() >= MAX_THROTTLED_SOURCES {
                let now = Instant::now();
                throttled.retain(|_, until| *until > now);
            }
            if throttled.len() < MAX_THROTTLED_SOURCES {
                throttled.insert(source, Instant::now() + wait);
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
    fn repeated_failures_throttle_the_source() {
        let limits = RateLimits::new(&RateLimitConfig {
            auth_failures_per_minute: 2,
            ..RateLimitConfig::default()
        });
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        limits.record_failure(ip);
        limits.record_failure(ip);
        assert_eq!(limits.throttled(ip), None, "within the allowance");
        limits.record_failure(ip);
        let wait = limits.throttled(ip).expect("throttled");
        assert!(wait <= Duration::from_secs(30), "{wait:?}");
        assert_eq!(limits.throttled("192.0.2.2".parse().expect("ip")), None);
    }
}
