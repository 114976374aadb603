//! What ldk-node writes behind, and the sync that makes it durable before anyone outside
//! the node hears of it.
//!
//! ldk-node persists its payment store and its event queue while holding their locks.
//! Written durably, each costs an fsync that nothing else can share, so one node records
//! about one payment (or invoice) per fsync. Written behind (see `node_store`), they
//! share the log's group commit; channel monitors and the channel manager stay durable
//! before acknowledged, and the log's single order keeps a write-behind record no younger
//! on disk than any durable write after it.
//!
//! The channel manager stays in the log, durable before acknowledged. A file of its own was
//! tried: each write then took several fsyncs instead of a share of one, so the manager on
//! disk lagged the monitors for longer, and a crash that finds it older than a channel
//! monitor makes LDK force-close that channel at the restart.

use std::sync::Arc;

use node_store::{LogStore, Options};

use crate::error::NodeError;
use crate::event_journal::JOURNAL_NAMESPACE;

/// ldk-node's payment records, its event queue, LDK's network graph (refilled from
/// gossip if lost), and our journal of events for the sink (`event_journal.rs`: written
/// before the acknowledgement that ldk-node's queue records after it). Not the scorer:
/// the background processor persists it after every payment outcome before it goes on,
/// and written behind, that loop ran faster and re-serialized the channel manager more
/// often, costing node-to-node throughput (BENCHMARKS.md, 2026-12-03).
fn written_behind(primary: &str, secondary: &str, key: &str) -> bool {
    match (primary, secondary) {
        ("payments", "") | (JOURNAL_NAMESPACE, "") => true,
        ("", "") => matches!(key, "events" | "network_graph"),
        _ => false,
    }
}

pub(crate) fn log_store_options() -> Options {
    Options {
        write_behind: Some(written_behind),
        ..Options::default()
    }
}

/// The node's store, if it writes behind.
#[derive(Clone, Default)]
pub(crate) struct Durability(Option<Arc<LogStore>>);

impl Durability {
    pub(crate) fn of(store: &Arc<LogStore>) -> Self {
        Self(Some(Arc::clone(store)))
    }

    pub(crate) fn store(&self) -> Option<&Arc<LogStore>> {
        self.0.as_ref()
    }

    /// Returns once what the node wrote before the call is on disk.
    pub(crate) async fn sync(&self) -> Result<(), NodeError> {
        match &self.0 {
            Some(store) => store
                .sync()
                .await
                .map_err(|e| NodeError::Backend(format!("node store: {e}"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::written_behind;

    #[test]
    fn only_bookkeeping_is_written_behind_never_channel_state() {
        assert!(written_behind("payments", "", "0a1b"));
        assert!(written_behind("", "", "events"));
        assert!(written_behind("", "", "network_graph"));
        assert!(written_behind("fulgur_events", "", "00000000000000000007"));
        for durable in [
            ("monitors", "", "abcd_0"),
            ("monitor_updates", "abcd_0", "1"),
            ("", "", "manager"),
            ("", "", "scorer"),
            ("", "", "output_sweeper"),
            ("", "", "peers"),
            ("bdk_wallet", "", "tx_graph"),
            ("payments", "x", "0a1b"),
        ] {
            assert!(
                !written_behind(durable.0, durable.1, durable.2),
                "{durable:?} stays durable"
            );
        }
    }
}
