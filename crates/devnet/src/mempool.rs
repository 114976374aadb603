//! Unconfirmed transactions, kept consistent with the tip: no two spend the same output
//! (a conflicting spend is a full-RBF replacement or is refused).

use std::collections::{BTreeMap, HashMap, HashSet};

use bitcoin::{OutPoint, Transaction, Txid};

use crate::validation::Coin;

pub(crate) struct MempoolEntry {
    pub tx: Transaction,
    pub fee_sat: u64,
    pub vsize: u64,
    /// Unix seconds when it entered.
    pub time: u64,
    /// Chain height when it entered.
    pub height: u32,
    sequence: u64,
}

impl MempoolEntry {
    /// Fee rate in milli-sat per vbyte, integer so that comparisons are exact.
    pub fn fee_rate_msat_per_vb(&self) -> u64 {
        self.fee_sat * 1000 / self.vsize.max(1)
    }
}

#[derive(Default)]
pub(crate) struct Mempool {
    entries: HashMap<Txid, MempoolEntry>,
    spent_by: HashMap<OutPoint, Txid>,
    next_sequence: u64,
    /// Insertion order: a child always enters after its parents, so this order is topological.
    order: BTreeMap<u64, Txid>,
}

impl Mempool {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn contains(&self, txid: &Txid) -> bool {
        self.entries.contains_key(txid)
    }

    pub fn get(&self, txid: &Txid) -> Option<&MempoolEntry> {
        self.entries.get(txid)
    }

    pub fn spender(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.spent_by.get(outpoint).copied()
    }

    /// An output created by a mempool transaction, as a coin of the next block.
    pub fn output(&self, outpoint: &OutPoint, next_height: u32) -> Option<Coin> {
        let entry = self.entries.get(&outpoint.txid)?;
        let output = entry.tx.output.get(outpoint.vout as usize)?;
        Some(Coin {
            output: output.clone(),
            height: next_height,
            is_coinbase: false,
        })
    }

    /// Transactions in topological (insertion) order.
    pub fn in_order(&self) -> impl Iterator<Item = &MempoolEntry> {
        self.order.values().map(|txid| &self.entries[txid])
    }

    pub fn total_vsize(&self) -> u64 {
        self.entries.values().map(|e| e.vsize).sum()
    }

    pub fn insert(&mut self, tx: Transaction, fee_sat: u64, time: u64, height: u32) {
        let txid = tx.compute_txid();
        for input in &tx.input {
            let previous = self.spent_by.insert(input.previous_output, txid);
            debug_assert!(previous.is_none(), "conflicts are evicted before insertion");
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.order.insert(sequence, txid);
        let vsize = tx.vsize() as u64;
        self.entries.insert(
            txid,
            MempoolEntry {
                tx,
                fee_sat,
                vsize,
                time,
                height,
                sequence,
            },
        );
    }

    /// The given transactions and every mempool descendant of theirs.
    pub fn with_descendants(&self, roots: impl IntoIterator<Item = Txid>) -> HashSet<Txid> {
        let mut found = HashSet::new();
        let mut stack: Vec<Txid> = roots.into_iter().collect();
        while let Some(txid) = stack.pop() {
            if !found.insert(txid) {
                continue;
            }
            if let Some(entry) = self.entries.get(&txid) {
                for vout in 0..entry.tx.output.len() as u32 {
                    if let Some(child) = self.spent_by.get(&OutPoint::new(txid, vout)) {
                        stack.push(*child);
                    }
                }
            }
        }
        found
    }

    pub fn remove(&mut self, txid: &Txid) -> Option<MempoolEntry> {
        let entry = self.entries.remove(txid)?;
        for input in &entry.tx.input {
            self.spent_by.remove(&input.previous_output);
        }
        self.order.remove(&entry.sequence);
        Some(entry)
    }

    /// Drops what a new block confirmed, and whatever now conflicts with it.
    pub fn remove_for_block(&mut self, block_txs: &[Transaction]) {
        let mut conflicts = Vec::new();
        for tx in block_txs {
            self.remove(&tx.compute_txid());
            for input in &tx.input {
                if let Some(spender) = self.spent_by.get(&input.previous_output) {
                    conflicts.push(*spender);
                }
            }
        }
        for txid in self.with_descendants(conflicts) {
            self.remove(&txid);
        }
    }

    /// Empties the pool, returning its transactions in topological order.
    pub fn drain(&mut self) -> Vec<Transaction> {
        let order = std::mem::take(&mut self.order);
        self.spent_by.clear();
        let mut entries = std::mem::take(&mut self.entries);
        order
            .values()
            .filter_map(|txid| entries.remove(txid))
            .map(|e| e.tx)
            .collect()
    }
}
