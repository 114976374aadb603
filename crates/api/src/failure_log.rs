//! How authentication failures reach the audit trail without letting a spray saturate
//! its one writer: per source address and UTC minute, the first few failures are recorded
//! one by one and the rest only counted; the count becomes one summary record once that
//! minute is over (written with the next failure from anywhere, or at shutdown).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Failures recorded one by one per source and minute: every mistake of a person or a
/// misconfigured system is there in full; only a spray is summarised.
pub const RECORDED_PER_MINUTE: u32 = 20;
/// Sources tracked at once; beyond it, failures of new sources share one overflow window
/// (`None`), so memory stays bounded whatever the spray.
const MAX_SOURCES: usize = 10_000;
const MINUTE_MS: i64 = 60_000;

/// Failures counted but not recorded one by one: `count` from `source` in the minute
/// starting at `minute_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    pub source: Option<IpAddr>,
    pub minute_ms: i64,
    pub count: u32,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    minute_ms: i64,
    seen: u32,
}

impl Window {
    fn suppressed(&self) -> u32 {
        self.seen.saturating_sub(RECORDED_PER_MINUTE)
    }
}

#[derive(Debug, Default)]
pub struct FailureLog {
    windows: Mutex<HashMap<Option<IpAddr>, Window>>,
}

impl FailureLog {
    /// Counts one failure of `source` at `now_ms`: whether to record it one by one, and
    /// the summaries of windows that are over (to record now).
    pub fn admit(&self, source: Option<IpAddr>, now_ms: i64) -> (bool, Vec<Suppressed>) {
        let minute_ms = now_ms - now_ms.rem_euclid(MINUTE_MS);
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let mut due = Vec::new();
        // Close every window of an earlier minute (bounded by MAX_SOURCES).
        if windows.values().any(|w| w.minute_ms < minute_ms) {
            windows.retain(|source, w| {
                if w.minute_ms >= minute_ms {
                    return true;
                }
                if w.suppressed() > 0 {
                    due.push(Suppressed {
                        source: *source,
                        minute_ms: w.minute_ms,
                        count: w.suppressed(),
                    });
                }
                false
            });
        }
        let key = if windows.contains_key(&source) || windows.len() < MAX_SOURCES {
            source
        } else {
            None
        };
        let window = windows.entry(key).or_insert(Window { minute_ms, seen: 0 });
        window.seen = window.seen.saturating_add(1);
        (window.seen <= RECORDED_PER_MINUTE, due)
    }

    /// Every count not yet summarised (at shutdown).
    pub fn drain(&self) -> Vec<Suppressed> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        windows
            .drain()
            .filter(|(_, w)| w.suppressed() > 0)
            .map(|(source, w)| Suppressed {
                source,
                minute_ms: w.minute_ms,
                count: w.suppressed(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    #[test]
    fn a_spray_is_recorded_a_few_times_then_summarised_once() {
        let log = FailureLog::default();
        let recorded = (0..1_000)
            .filter(|n| log.admit(ip("192.0.2.1"), 60_000 + n).0)
            .count();
        assert_eq!(recorded, RECORDED_PER_MINUTE as usize);
        // Another source in the same minute has its own allowance.
        assert!(log.admit(ip("192.0.2.2"), 60_500).0);
        // The next minute closes the first: one summary with the rest of the count.
        let (record, due) = log.admit(ip("192.0.2.3"), 120_000);
        assert!(record);
        assert_eq!(
            due,
            vec![Suppressed {
                source: ip("192.0.2.1"),
                minute_ms: 60_000,
                count: 1_000 - RECORDED_PER_MINUTE,
            }]
        );
        assert!(
            log.drain().is_empty(),
            "nothing suppressed in the new minute"
        );
    }

    #[test]
    fn memory_is_bounded_by_an_overflow_window() {
        let log = FailureLog::default();
        for n in 0..(MAX_SOURCES as u32 + 100) {
            let source = Some(IpAddr::from(n.to_be_bytes()));
            log.admit(source, 0);
        }
        let windows = log.windows.lock().expect("lock").len();
        assert!(windows <= MAX_SOURCES + 1, "{windows}");
        let drained = log.drain();
        assert_eq!(drained.len(), 1, "the overflow window alone suppressed");
        assert_eq!(drained[0].source, None);
        assert_eq!(drained[0].count, 100 - RECORDED_PER_MINUTE);
    }
}
