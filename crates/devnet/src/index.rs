//! The address-index queries an Esplora or Electrum server answers — where a transaction
//! sits, a script's history, who spends an output, merkle proofs — over the active chain
//! and the mempool.
//!
//! They scan instead of keeping an index: a devnet chain holds a few thousand transactions
//! at most, and a scan is right after a reorg without any bookkeeping.

use bitcoin::hashes::{sha256, sha256d, Hash};
use bitcoin::{Block, BlockHash, OutPoint, Transaction, TxOut, Txid};

use crate::state::State;

/// Where a confirmed transaction sits in the active chain.
#[derive(Clone, Copy)]
pub(crate) struct Confirmation {
    pub height: u32,
    pub block_hash: BlockHash,
    pub block_time: u32,
    /// Index of the transaction in its block.
    pub pos: usize,
}

/// A transaction of the active chain or the mempool.
#[derive(Clone, Copy)]
pub(crate) struct Located<'a> {
    pub tx: &'a Transaction,
    pub txid: Txid,
    /// `None` while in the mempool.
    pub confirmation: Option<Confirmation>,
}

impl State {
    pub fn locate_tx(&self, txid: &Txid) -> Option<Located<'_>> {
        if let Some(entry) = self.mempool.get(txid) {
            return Some(Located {
                tx: &entry.tx,
                txid: *txid,
                confirmation: None,
            });
        }
        let block_hash = self.chain.block_of(txid)?;
        let record = self.chain.record(&block_hash)?;
        let pos = record
            .block
            .txdata
            .iter()
            .position(|tx| tx.compute_txid() == *txid)?;
        Some(Located {
            tx: &record.block.txdata[pos],
            txid: *txid,
            confirmation: Some(Confirmation {
                height: record.height,
                block_hash,
                block_time: record.block.header.time,
                pos,
            }),
        })
    }

    /// The output an input spends, wherever its transaction is (confirmed or mempool).
    pub fn prevout(&self, outpoint: &OutPoint) -> Option<&TxOut> {
        self.locate_tx(&outpoint.txid)?
            .tx
            .output
            .get(outpoint.vout as usize)
    }

    /// Fee a transaction pays; 0 for a coinbase, `None` if an input's output is unknown.
    pub fn fee_sat(&self, tx: &Transaction) -> Option<u64> {
        if tx.is_coinbase() {
            return Some(0);
        }
        let mut inputs_sat = 0u64;
        for input in &tx.input {
            inputs_sat += self.prevout(&input.previous_output)?.value.to_sat();
        }
        let outputs_sat: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
        inputs_sat.checked_sub(outputs_sat)
    }

    /// Every transaction that pays to or spends from the script with this SHA-256: confirmed
    /// ones in chain order, then the mempool's in the order they entered.
    pub fn script_history(&self, script_hash: &sha256::Hash) -> Vec<Located<'_>> {
        let touches = |tx: &Transaction| {
            tx.output
                .iter()
                .any(|o| sha256::Hash::hash(o.script_pubkey.as_bytes()) == *script_hash)
                || (!tx.is_coinbase()
                    && tx.input.iter().any(|i| {
                        self.prevout(&i.previous_output).is_some_and(|o| {
                            sha256::Hash::hash(o.script_pubkey.as_bytes()) == *script_hash
                        })
                    }))
        };
        let mut history = Vec::new();
        for height in 0..=self.chain.tip_height() {
            let block_hash = self.chain.hash_at(height).expect("height within the chain");
            let block = &self.chain.record(&block_hash).expect("active block").block;
            for (pos, tx) in block.txdata.iter().enumerate() {
                if touches(tx) {
                    history.push(Located {
                        tx,
                        txid: tx.compute_txid(),
                        confirmation: Some(Confirmation {
                            height,
                            block_hash,
                            block_time: block.header.time,
                            pos,
                        }),
                    });
                }
            }
        }
        for entry in self.mempool.in_order() {
            if touches(&entry.tx) {
                history.push(Located {
                    tx: &entry.tx,
                    txid: entry.tx.compute_txid(),
                    confirmation: None,
                });
            }
        }
        history
    }

    /// The transaction spending `outpoint` and the index of its input, if any.
    pub fn spender(&self, outpoint: &OutPoint) -> Option<(Located<'_>, usize)> {
        let spends =
            |tx: &Transaction| tx.input.iter().position(|i| i.previous_output == *outpoint);
        if let Some(txid) = self.mempool.spender(outpoint) {
            let located = self.locate_tx(&txid)?;
            let vin = spends(located.tx)?;
            return Some((located, vin));
        }
        if self.chain.coin(outpoint).is_some() {
            return None;
        }
        let from = self
            .locate_tx(&outpoint.txid)?
            .confirmation
            .map_or(0, |c| c.height);
        (from..=self.chain.tip_height()).find_map(|height| {
            let block_hash = self.chain.hash_at(height)?;
            let block = &self.chain.record(&block_hash)?.block;
            block.txdata.iter().enumerate().find_map(|(pos, tx)| {
                let vin = spends(tx)?;
                let located = Located {
                    tx,
                    txid: tx.compute_txid(),
                    confirmation: Some(Confirmation {
                        height,
                        block_hash,
                        block_time: block.header.time,
                        pos,
                    }),
                };
                Some((located, vin))
            })
        })
    }

    /// The active block at `height`.
    pub fn block_at(&self, height: u32) -> Option<&Block> {
        let hash = self.chain.hash_at(height)?;
        Some(&self.chain.record(&hash)?.block)
    }
}

/// The sibling hashes from the transaction at `pos` up to the block's merkle root (Bitcoin's
/// tree: an odd level pairs its last node with itself).
pub(crate) fn merkle_branch(block: &Block, pos: usize) -> Vec<sha256d::Hash> {
    let mut level: Vec<sha256d::Hash> = block
        .txdata
        .iter()
        .map(|tx| tx.compute_txid().to_raw_hash())
        .collect();
    let mut index = pos;
    let mut branch = Vec::new();
    while level.len() > 1 {
        let sibling = (index ^ 1).min(level.len() - 1);
        branch.push(level[sibling]);
        level = level
            .chunks(2)
            .map(|pair| {
                let right = pair.get(1).unwrap_or(&pair[0]);
                let mut engine = sha256d::Hash::engine();
                bitcoin::hashes::HashEngine::input(&mut engine, pair[0].as_byte_array());
                bitcoin::hashes::HashEngine::input(&mut engine, right.as_byte_array());
                sha256d::Hash::from_engine(engine)
            })
            .collect();
        index /= 2;
    }
    branch
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::HashEngine;

    /// Folds a branch back to a root the way an SPV client does.
    fn fold(txid: Txid, pos: usize, branch: &[sha256d::Hash]) -> sha256d::Hash {
        let mut cur = txid.to_raw_hash();
        let mut index = pos;
        for sibling in branch {
            let mut engine = sha256d::Hash::engine();
            let (left, right) = if index.is_multiple_of(2) {
                (cur, *sibling)
            } else {
                (*sibling, cur)
            };
            engine.input(left.as_byte_array());
            engine.input(right.as_byte_array());
            cur = sha256d::Hash::from_engine(engine);
            index /= 2;
        }
        cur
    }

    #[test]
    fn merkle_branch_folds_to_the_root_for_every_position_and_size() {
        let genesis = bitcoin::constants::genesis_block(bitcoin::Network::Regtest);
        for size in 1..=9u32 {
            let mut block = genesis.clone();
            block.txdata = (0..size)
                .map(|i| {
                    let mut tx = genesis.txdata[0].clone();
                    tx.lock_time = bitcoin::absolute::LockTime::from_consensus(i);
                    tx
                })
                .collect();
            let root = block
                .compute_merkle_root()
                .expect("non-empty")
                .to_raw_hash();
            for pos in 0..size as usize {
                let txid = block.txdata[pos].compute_txid();
                let branch = merkle_branch(&block, pos);
                assert_eq!(fold(txid, pos, &branch), root, "size {size} pos {pos}");
            }
        }
    }
}
