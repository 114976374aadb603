//! Booking channels that close in the normal course: a peer's force close, LDK's own after a
//! crash (ARCHITECTURE.md, known limits), an operator's close. The channel's funds leave
//! the node's channels for its wallet, less on-chain fees, while the customers' balances
//! stay what they were. The books follow once the close is resolved: nothing of the node
//! is closing any more and none of its payments is unsettled. Then what the ledger holds
//! beyond the open channels leaves the node's account; what the wallet gained since the
//! node last matched its books goes to the node's wallet account; the rest is on-chain
//! cost. The figures must be seen unchanged by two sweeps before they are booked, so a
//! wallet that has not yet synced its sweep is never mistaken for a loss.
//!
//! A difference the wallet cannot explain (the wallet gained more than the ledger held
//! beyond the channels, or lost funds) is never booked: `fulgur ledger check` keeps
//! reporting it for an operator.

use audit::AuditAction;
use ledger::{get_account, post, JournalEntry, Posting};
use store::{Sql, Value};

use crate::system::{ensure_wallet_account, node_account, wallet_account, ONCHAIN_COST_ACCOUNT};
use crate::{Actor, Gateway, GatewayError};

/// What one sweep sees of a node, on the node and in the books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observation {
    pub ledger_msat: i64,
    pub channels_msat: i64,
    pub closing_msat: i64,
    pub wallet_msat: i64,
    /// Payments of the node still pending or in flight, or a recovery under way.
    pub unsettled: u64,
    /// The open channels' ids, sorted, comma-separated.
    pub open_channels: String,
}

/// The node's row in `node_wallets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WalletRecord {
    pub baseline_msat: i64,
    pub baseline_channels: String,
    pub seen: Option<(i64, i64)>,
    pub closes_booked: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing to measure now: a close or a payment is resolving, or no channel has closed
    /// and a channel has not yet caught up with the ledger.
    Wait,
    /// The node matches its books: its wallet and channels are the new baseline.
    Square,
    /// A resolved close, seen for the first time.
    Seen { beyond_msat: i64 },
    /// A resolved close seen twice: book it.
    Book { beyond_msat: i64, gain_msat: i64 },
    /// A channel has closed, but the node differs from its books in a way the close does
    /// not explain.
    Unexplained { beyond_msat: i64, gain_msat: i64 },
}

/// Decides what a sweep does with a node (pure: the store and the node are read around it).
pub(crate) fn step(seen: &Observation, record: Option<&WalletRecord>) -> Step {
    if seen.closing_msat > 0 || seen.unsettled > 0 {
        return Step::Wait;
    }
    let beyond_msat = seen.ledger_msat - seen.channels_msat;
    if beyond_msat == 0 {
        return Step::Square;
    }
    let Some(record) = record else {
        return Step::Unexplained {
            beyond_msat,
            gain_msat: 0,
        };
    };
    if !closed_since(&record.baseline_channels, &seen.open_channels) {
        return Step::Wait;
    }
    let gain_msat = seen.wallet_msat - record.baseline_msat;
    if beyond_msat < 0 || !(0..=beyond_msat).contains(&gain_msat) {
        return Step::Unexplained {
            beyond_msat,
            gain_msat,
        };
    }
    if record.seen == Some((beyond_msat, seen.wallet_msat)) {
        Step::Book {
            beyond_msat,
            gain_msat,
        }
    } else {
        Step::Seen { beyond_msat }
    }
}

/// Whether a channel open at the baseline is open no more.
fn closed_since(baseline: &str, open: &str) -> bool {
    let open: std::collections::HashSet<&str> = open.split(',').collect();
    baseline
        .split(',')
        .any(|id| !id.is_empty() && !open.contains(id))
}

/// The sorted, comma-separated ids of a node's open channels.
fn channel_ids(channels: &[node_pool::ChannelInfo]) -> String {
    let mut ids: Vec<&str> = channels.iter().map(|c| c.channel_id.as_str()).collect();
    ids.sort_unstable();
    ids.join(",")
}

impl Gateway {
    /// Books every resolved channel close once; returns how many nodes' closes were booked.
    pub async fn book_channel_closes(&self) -> Result<usize, GatewayError> {
        let mut booked = 0;
        for status in self.inner.pool.status() {
            let node = self.inner.pool.get(&status.name)?;
            let onchain = node.onchain_balance();
            let channels = node.channels();
            let channels_msat = crate::system::sum_balances_msat(&channels);
            let open_channels = channel_ids(&channels);
            let name = status.name.clone();
            let now = self.now_ms();
            let step = self
                .inner
                .store
                .write(move |sql| {
                    let seen = Observation {
                        ledger_msat: -get_account(sql, &node_account(&name))?.balance_msat,
                        channels_msat: msat(channels_msat),
                        closing_msat: msat(onchain.closing_sat * 1000),
                        wallet_msat: msat(onchain.total_sat * 1000),
                        unsettled: unsettled(sql, &name)?,
                        open_channels,
                    };
                    let record = wallet_record(sql, &name)?;
                    let step = step(&seen, record.as_ref());
                    apply(sql, &name, step, &seen, record.as_ref(), now)?;
                    Ok::<_, GatewayError>(step)
                })
                .await?;
            match step {
                Step::Book { .. } => booked += 1,
                Step::Unexplained {
                    beyond_msat,
                    gain_msat,
                } => tracing::warn!(
                    node = %status.name,
                    beyond_msat,
                    gain_msat,
                    "node differs from its books and no close explains it; not booked"
                ),
                _ => {}
            }
        }
        Ok(booked)
    }
}

fn msat(value: u64) -> i64 {
    i64::try_from(value).expect("bitcoin supply fits")
}

fn unsettled(sql: &mut dyn Sql, node: &str) -> Result<u64, GatewayError> {
    let payments = crate::records::unfinished_on(sql, node)?;
    // A recovery books the node's closes itself.
    let recoveries = sql
        .query_one(
            "SELECT COUNT(*) AS recoveries FROM recoveries WHERE node_name = $1 \
             AND state IN ('closing', 'sweeping')",
            &[node.into()],
        )?
        .u64("recoveries")?;
    Ok(payments + recoveries)
}

fn wallet_record(sql: &mut dyn Sql, node: &str) -> Result<Option<WalletRecord>, GatewayError> {
    let row = sql.query_opt(
        "SELECT baseline_msat, baseline_channels, seen_beyond_msat, seen_wallet_msat, \
         closes_booked FROM node_wallets WHERE node_name = $1",
        &[node.into()],
    )?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(WalletRecord {
        baseline_msat: row.i64("baseline_msat")?,
        baseline_channels: row.text("baseline_channels")?.to_string(),
        seen: row
            .opt_i64("seen_beyond_msat")?
            .zip(row.opt_i64("seen_wallet_msat")?),
        closes_booked: row.i64("closes_booked")?,
    }))
}

/// Records the step in the caller's transaction; writes only what changed.
fn apply(
    sql: &mut dyn Sql,
    node: &str,
    step: Step,
    seen: &Observation,
    record: Option<&WalletRecord>,
    now_ms: i64,
) -> Result<(), GatewayError> {
    let closes_booked = record.map_or(0, |r| r.closes_booked);
    let next = match (step, record) {
        (Step::Square, _) => WalletRecord {
            baseline_msat: seen.wallet_msat,
            baseline_channels: seen.open_channels.clone(),
            seen: None,
            closes_booked,
        },
        (
            Step::Book {
                beyond_msat,
                gain_msat,
            },
            _,
        ) => {
            book(sql, node, closes_booked + 1, beyond_msat, gain_msat, now_ms)?;
            WalletRecord {
                baseline_msat: seen.wallet_msat,
                baseline_channels: seen.open_channels.clone(),
                seen: None,
                closes_booked: closes_booked + 1,
            }
        }
        (Step::Seen { beyond_msat }, Some(record)) => WalletRecord {
            seen: Some((beyond_msat, seen.wallet_msat)),
            ..record.clone()
        },
        (Step::Wait | Step::Unexplained { .. }, Some(record)) => WalletRecord {
            seen: None,
            ..record.clone()
        },
        (_, None) => return Ok(()),
    };
    if record == Some(&next) {
        return Ok(());
    }
    let (seen_beyond, seen_wallet) = next.seen.map_or((Value::Null, Value::Null), |(b, w)| {
        (Value::Int(b), Value::Int(w))
    });
    sql.execute(
        "INSERT INTO node_wallets (node_name, baseline_msat, baseline_channels, \
         seen_beyond_msat, seen_wallet_msat, closes_booked, updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (node_name) DO UPDATE SET \
         baseline_msat = excluded.baseline_msat, \
         baseline_channels = excluded.baseline_channels, \
         seen_beyond_msat = excluded.seen_beyond_msat, \
         seen_wallet_msat = excluded.seen_wallet_msat, \
         closes_booked = excluded.closes_booked, updated_at_ms = excluded.updated_at_ms",
        &[
            node.into(),
            Value::Int(next.baseline_msat),
            next.baseline_channels.as_str().into(),
            seen_beyond,
            seen_wallet,
            Value::Int(next.closes_booked),
            Value::Int(now_ms),
        ],
    )?;
    Ok(())
}

/// The close's journal entry; its id numbers the node's closes, so a second booking of
/// the same close (two gateways sweeping at once) fails instead of doubling.
fn book(
    sql: &mut dyn Sql,
    node: &str,
    number: i64,
    beyond_msat: i64,
    gain_msat: i64,
    now_ms: i64,
) -> Result<(), GatewayError> {
    ensure_wallet_account(sql, node, now_ms)?;
    let cost_msat = beyond_msat - gain_msat;
    let mut postings = vec![
        Posting::new(&node_account(node), "channel_close", beyond_msat),
        Posting::new(&wallet_account(node), "channel_close", -gain_msat),
        Posting::new(ONCHAIN_COST_ACCOUNT, "onchain_cost", -cost_msat),
    ];
    postings.retain(|p| p.amount_msat != 0);
    let id = format!("close_{node}_{number}");
    post(
        sql,
        &JournalEntry {
            id: id.clone(),
            kind: "channel_close".into(),
            reference: Some(node.to_string()),
            postings,
        },
        now_ms,
    )?;
    let details = format!(
        "entry={id} held_msat={beyond_msat} to_wallet_msat={gain_msat} cost_msat={cost_msat}"
    );
    Actor::system("books").audit(
        sql,
        now_ms,
        None,
        "channel_close.booked",
        node,
        Some(details),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing closing or unsettled; channel `b` of the baseline's `a,b` has closed.
    fn quiet(ledger_msat: i64, channels_msat: i64, wallet_msat: i64) -> Observation {
        Observation {
            ledger_msat,
            channels_msat,
            closing_msat: 0,
            wallet_msat,
            unsettled: 0,
            open_channels: "a".into(),
        }
    }

    fn record() -> WalletRecord {
        WalletRecord {
            baseline_msat: 1_000,
            baseline_channels: "a,b".into(),
            seen: None,
            closes_booked: 0,
        }
    }

    fn seen_twice(ledger_msat: i64, channels_msat: i64, wallet_msat: i64) -> WalletRecord {
        WalletRecord {
            seen: Some((ledger_msat - channels_msat, wallet_msat)),
            ..record()
        }
    }

    #[test]
    fn nothing_is_measured_while_a_close_or_a_payment_resolves() {
        let closing = Observation {
            closing_msat: 5,
            ..quiet(500, 100, 1_300)
        };
        let paying = Observation {
            unsettled: 1,
            ..quiet(500, 100, 1_300)
        };
        assert_eq!(
            step(&closing, Some(&seen_twice(500, 100, 1_300))),
            Step::Wait
        );
        assert_eq!(
            step(&paying, Some(&seen_twice(500, 100, 1_300))),
            Step::Wait
        );
    }

    #[test]
    fn a_node_matching_its_books_moves_the_baseline() {
        assert_eq!(step(&quiet(100, 100, 7_000), Some(&record())), Step::Square);
        assert_eq!(step(&quiet(100, 100, 7_000), None), Step::Square);
    }

    #[test]
    fn a_resolved_close_is_booked_only_when_seen_twice_unchanged() {
        let seen = quiet(500, 100, 1_300);
        assert_eq!(
            step(&seen, Some(&record())),
            Step::Seen { beyond_msat: 400 }
        );
        assert_eq!(
            step(&seen, Some(&seen_twice(500, 100, 1_300))),
            Step::Book {
                beyond_msat: 400,
                gain_msat: 300
            }
        );
        // The wallet synced its sweep in between: seen again, not booked.
        assert_eq!(
            step(&quiet(500, 100, 1_350), Some(&seen_twice(500, 100, 1_300))),
            Step::Seen { beyond_msat: 400 }
        );
    }

    #[test]
    fn without_a_closed_channel_nothing_is_booked() {
        // A receipt the channel has not caught up with, seen twice: no channel closed.
        let lagging = Observation {
            open_channels: "a,b".into(),
            ..quiet(500, 100, 1_000)
        };
        assert_eq!(
            step(&lagging, Some(&seen_twice(500, 100, 1_000))),
            Step::Wait
        );
        // A channel opened since the baseline is no close either.
        let opened = Observation {
            open_channels: "a,b,c".into(),
            ..lagging
        };
        assert_eq!(
            step(&opened, Some(&seen_twice(500, 100, 1_000))),
            Step::Wait
        );
        assert!(closed_since("a,b", "a"));
        assert!(!closed_since("", "a"));
        assert!(!closed_since("a", "a,c"));
    }

    #[test]
    fn what_no_close_explains_is_never_booked() {
        // The wallet gained more than the ledger held beyond the channels.
        let deposit = quiet(500, 100, 2_000);
        assert!(matches!(
            step(&deposit, Some(&seen_twice(500, 100, 2_000))),
            Step::Unexplained { .. }
        ));
        // The wallet lost funds.
        let spent = quiet(500, 100, 900);
        assert!(matches!(
            step(&spent, Some(&seen_twice(500, 100, 900))),
            Step::Unexplained { .. }
        ));
        // The node holds more than the ledger says.
        let more = quiet(100, 500, 1_000);
        assert!(matches!(
            step(&more, Some(&seen_twice(100, 500, 1_000))),
            Step::Unexplained { .. }
        ));
        // No baseline to measure from.
        assert!(matches!(
            step(&quiet(500, 100, 1_300), None),
            Step::Unexplained { .. }
        ));
    }
}
