//! Node events on their way to the sink, without holding up the node.
//!
//! ldk-node hands out one event at a time, and the next only once the last is
//! acknowledged. A sink that commits each event to a database before that acknowledgement
//! caps a node at one event per commit: about 275 payment outcomes a second here
//! (BENCHMARKS.md, 2026-12-03), below what the node's channels carry.
//!
//! With the log store, the pump journals each event (written behind, so no fsync is
//! waited for) and acknowledges it at once. The log keeps one order, so a journal entry
//! is on disk no later than the acknowledgement written after it: a crash loses neither.
//! A delivery task takes what has queued up, syncs the node's store once (what the events
//! report is on disk before the ledger acts on it), hands the events to the sink
//! concurrently, those of one payment in order, and removes each entry once the sink has
//! recorded it. At start, the entries a crash left are delivered before anything new.
//! Delivery stays at least once; the sink's handlers are idempotent.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ldk_node::lightning::util::persist::KVStoreSync;
use node_store::LogStore;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

use crate::durability::Durability;
use crate::sink::SinkHandle;
use crate::types::NodeEvent;

/// The journal's namespace in the node's store (written behind, see `durability.rs`).
pub(crate) const JOURNAL_NAMESPACE: &str = "fulgur_events";
/// Events journaled but not yet taken by the delivery task; the pump waits when it is full.
const MAX_QUEUED_EVENTS: usize = 4096;
/// Most events one delivery round hands to the sink.
const MAX_DELIVERY_BATCH: usize = 512;

/// A journal entry: its sequence number (the order the node reported it) and the event.
pub(crate) type Entry = (u64, NodeEvent);

pub(crate) struct EventJournal {
    store: Arc<LogStore>,
    next_seq: AtomicU64,
}

fn seq_key(seq: u64) -> String {
    // Zero-padded, so the store's sorted listing is the journal's order.
    format!("{seq:020}")
}

impl EventJournal {
    /// Opens the journal in `store`; returns it and the entries a crash left, oldest first.
    pub(crate) fn open(store: Arc<LogStore>) -> io::Result<(Self, Vec<Entry>)> {
        let mut left = Vec::new();
        let mut next_seq = 0;
        for key in KVStoreSync::list(&*store, JOURNAL_NAMESPACE, "")? {
            let Ok(seq) = key.parse::<u64>() else {
                tracing::error!(
                    key,
                    "event journal: a key that is no sequence number; left alone"
                );
                continue;
            };
            next_seq = next_seq.max(seq + 1);
            let bytes = KVStoreSync::read(&*store, JOURNAL_NAMESPACE, "", &key)?;
            match serde_json::from_slice::<NodeEvent>(&bytes) {
                Ok(event) => left.push((seq, event)),
                Err(error) => {
                    tracing::error!(key, %error, "event journal: an entry that does not decode; left alone");
                }
            }
        }
        let journal = Self {
            store,
            next_seq: AtomicU64::new(next_seq),
        };
        Ok((journal, left))
    }

    /// Journals `event` (written behind: it reaches the disk before anything written after);
    /// returns its sequence number.
    pub(crate) fn append(&self, event: &NodeEvent) -> io::Result<u64> {
        let bytes = serde_json::to_vec(event).map_err(io::Error::other)?;
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        KVStoreSync::write(&*self.store, JOURNAL_NAMESPACE, "", &seq_key(seq), bytes)?;
        Ok(seq)
    }

    /// Forgets an entry the sink has recorded. If a crash loses the removal, the event is
    /// delivered again, which the sink tolerates.
    pub(crate) fn remove(&self, seq: u64) -> io::Result<()> {
        KVStoreSync::remove(&*self.store, JOURNAL_NAMESPACE, "", &seq_key(seq), false)
            .map_err(io::Error::from)
    }
}

/// The journal's side of the pump: where it puts each event before acknowledging it.
pub(crate) struct JournalInlet {
    journal: Arc<EventJournal>,
    queue: mpsc::Sender<Entry>,
}

impl JournalInlet {
    /// Journals the event and queues it for delivery; waits while the queue is full.
    pub(crate) async fn pass(&self, node: &str, event: NodeEvent) {
        let seq = loop {
            match self.journal.append(&event) {
                Ok(seq) => break seq,
                Err(error) => {
                    tracing::error!(%node, %error, "event journal cannot write; holding events");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        // Closed only when the delivery task is gone, that is when the pump is stopping:
        // the entry stays journaled for the next start.
        let _ = self.queue.send((seq, event)).await;
    }
}

/// Starts delivering `left` (a crash's leftovers) and then every event passed to the
/// returned inlet; the task runs in `tasks`, so it stops when they are dropped.
pub(crate) fn start_delivery(
    tasks: &mut JoinSet<()>,
    node: String,
    journal: EventJournal,
    left: Vec<Entry>,
    sink: SinkHandle,
    events: broadcast::Sender<NodeEvent>,
    durability: Durability,
) -> JournalInlet {
    let journal = Arc::new(journal);
    let (queue, received) = mpsc::channel(MAX_QUEUED_EVENTS);
    let delivery = Delivery {
        node,
        journal: Arc::clone(&journal),
        sink,
        events,
        durability,
    };
    tasks.spawn(delivery.run(left, received));
    JournalInlet { journal, queue }
}

#[derive(Clone)]
struct Delivery {
    node: String,
    journal: Arc<EventJournal>,
    sink: SinkHandle,
    events: broadcast::Sender<NodeEvent>,
    durability: Durability,
}

impl Delivery {
    async fn run(self, left: Vec<Entry>, mut queue: mpsc::Receiver<Entry>) {
        for batch in left.chunks(MAX_DELIVERY_BATCH) {
            self.deliver(batch.to_vec()).await;
        }
        while let Some(first) = queue.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_DELIVERY_BATCH {
                match queue.try_recv() {
                    Ok(entry) => batch.push(entry),
                    Err(_) => break,
                }
            }
            self.deliver(batch).await;
        }
    }

    /// One round: one sync, then every payment's events at once, each payment's in order.
    async fn deliver(&self, batch: Vec<Entry>) {
        while let Err(error) = self.durability.sync().await {
            tracing::error!(node = %self.node, %error, "node store cannot sync; holding events");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let mut running = JoinSet::new();
        for group in in_payment_order(batch) {
            let delivery = self.clone();
            running.spawn(async move {
                for (seq, event) in group {
                    delivery.sink.deliver(&delivery.node, &event).await;
                    if let Err(error) = delivery.journal.remove(seq) {
                        tracing::warn!(node = %delivery.node, seq, %error, "event journal: delivered entry not removed; it will be delivered again");
                    }
                    // No subscriber is fine: state stays queryable through `payment()`.
                    let _ = delivery.events.send(event);
                }
            });
        }
        while let Some(done) = running.join_next().await {
            if let Err(error) = done {
                tracing::error!(node = %self.node, %error, "event delivery task failed");
            }
        }
    }
}

/// What must keep its order: events of one payment. Events that name no payment
/// (forwards, channels) keep theirs among themselves.
fn ordering_key(event: &NodeEvent) -> Option<&str> {
    match event {
        NodeEvent::PaymentReceived { payment_hash, .. }
        | NodeEvent::PaymentSucceeded { payment_hash, .. }
        | NodeEvent::PaymentFailed {
            payment_hash: Some(payment_hash),
            ..
        } => Some(payment_hash),
        _ => None,
    }
}

/// Splits a batch into groups that may be delivered concurrently, each in journal order.
fn in_payment_order(batch: Vec<Entry>) -> Vec<Vec<Entry>> {
    let mut groups: Vec<Vec<Entry>> = Vec::new();
    let mut group_of: HashMap<Option<String>, usize> = HashMap::new();
    for entry in batch {
        let key = ordering_key(&entry.1).map(str::to_string);
        let index = *group_of.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[index].push(entry);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durability::log_store_options;

    fn succeeded(hash: &str) -> NodeEvent {
        NodeEvent::PaymentSucceeded {
            node: "alpha".into(),
            payment_hash: hash.into(),
            preimage: Some("ff".repeat(32)),
            fee_msat: Some(1_000),
        }
    }

    fn failed(hash: Option<&str>) -> NodeEvent {
        NodeEvent::PaymentFailed {
            node: "alpha".into(),
            payment_hash: hash.map(str::to_string),
            reason: "RouteNotFound".into(),
        }
    }

    #[test]
    fn entries_not_removed_survive_a_reopen_in_order_and_numbering_goes_on() {
        let dir = tempfile::tempdir().expect("temp dir");
        let open =
            || Arc::new(LogStore::open_with(dir.path(), log_store_options()).expect("store"));
        {
            let (journal, left) = EventJournal::open(open()).expect("journal");
            assert!(left.is_empty());
            for hash in ["aa", "bb", "cc"] {
                journal.append(&succeeded(hash)).expect("append");
            }
            journal.remove(1).expect("remove");
        } // the store closes here, flushing what it wrote behind
        let (journal, left) = EventJournal::open(open()).expect("reopen");
        assert_eq!(left, vec![(0, succeeded("aa")), (2, succeeded("cc"))]);
        let seq = journal.append(&failed(None)).expect("append after reopen");
        assert_eq!(seq, 3, "a new entry sorts after every leftover");
        // Past nine, zero padding keeps the store's sorted listing in journal order.
        for _ in 0..8 {
            journal.append(&failed(None)).expect("append");
        }
        drop(journal);
        let (_, left) = EventJournal::open(open()).expect("reopen");
        let seqs: Vec<u64> = left.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, vec![0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    }

    #[test]
    fn a_payment_keeps_its_order_and_payments_are_grouped_apart() {
        let batch = vec![
            (0, failed(Some("aa"))),
            (1, succeeded("bb")),
            (2, failed(None)),
            (3, succeeded("aa")),
            (4, failed(None)),
        ];
        let groups = in_payment_order(batch);
        let seqs: Vec<Vec<u64>> = groups
            .iter()
            .map(|g| g.iter().map(|(seq, _)| *seq).collect())
            .collect();
        assert_eq!(seqs, vec![vec![0, 3], vec![1], vec![2, 4]]);
    }
}
