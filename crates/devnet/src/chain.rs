//! The block tree, the active chain and its UTXO set, with undo data so blocks can be
//! disconnected (reorgs).

use std::collections::HashMap;

use bitcoin::block::Header;
use bitcoin::constants::genesis_block;
use bitcoin::pow::Work;
use bitcoin::{Block, BlockHash, Network, OutPoint, Transaction, Txid};

use crate::error::RejectReason;
use crate::validation::{self, Coin, SpendContext};

/// A block the chain has seen, active or stale.
pub(crate) struct BlockRecord {
    pub block: Block,
    pub height: u32,
    pub chainwork: Work,
}

pub(crate) struct ChainState {
    records: HashMap<BlockHash, BlockRecord>,
    active: Vec<BlockHash>,
    utxos: HashMap<OutPoint, Coin>,
    /// Coins each active block spent, in spending order.
    undo: HashMap<BlockHash, Vec<(OutPoint, Coin)>>,
    tx_index: HashMap<Txid, BlockHash>,
}

/// Regtest block subsidy: 50 BTC halving every 150 blocks.
pub(crate) fn block_subsidy_sat(height: u32) -> u64 {
    let halvings = height / 150;
    if halvings >= 64 {
        0
    } else {
        (50 * 100_000_000u64) >> halvings
    }
}

impl ChainState {
    pub fn new() -> Self {
        let genesis = genesis_block(Network::Regtest);
        let hash = genesis.block_hash();
        let chainwork = genesis.header.work();
        let mut records = HashMap::new();
        records.insert(
            hash,
            BlockRecord {
                block: genesis,
                height: 0,
                chainwork,
            },
        );
        // Like Core, the genesis coinbase is not spendable, so it never enters the UTXO set.
        Self {
            records,
            active: vec![hash],
            utxos: HashMap::new(),
            undo: HashMap::new(),
            tx_index: HashMap::new(),
        }
    }

    pub fn tip_height(&self) -> u32 {
        (self.active.len() - 1) as u32
    }

    pub fn tip_hash(&self) -> BlockHash {
        self.active[self.active.len() - 1]
    }

    pub fn tip(&self) -> &BlockRecord {
        &self.records[&self.tip_hash()]
    }

    pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
        self.active.get(height as usize).copied()
    }

    pub fn record(&self, hash: &BlockHash) -> Option<&BlockRecord> {
        self.records.get(hash)
    }

    pub fn is_active(&self, hash: &BlockHash) -> bool {
        self.records
            .get(hash)
            .is_some_and(|r| self.hash_at(r.height) == Some(*hash))
    }

    pub fn active_blocks(&self) -> impl Iterator<Item = &Block> {
        self.active.iter().map(|h| &self.records[h].block)
    }

    pub fn coin(&self, outpoint: &OutPoint) -> Option<&Coin> {
        self.utxos.get(outpoint)
    }

    pub fn utxos(&self) -> impl Iterator<Item = (&OutPoint, &Coin)> {
        self.utxos.iter()
    }

    /// The active block holding a confirmed transaction.
    pub fn block_of(&self, txid: &Txid) -> Option<BlockHash> {
        self.tx_index.get(txid).copied()
    }

    /// BIP113 median time past of the active block at `height` (its last 11 blocks).
    pub fn median_time_past(&self, height: u32) -> u32 {
        let height = height.min(self.tip_height()) as usize;
        let mut times: Vec<u32> = self.active[height.saturating_sub(10)..=height]
            .iter()
            .map(|h| self.records[h].block.header.time)
            .collect();
        times.sort_unstable();
        times[times.len() / 2]
    }

    /// The context a transaction in the next block is checked against.
    pub fn next_block_context(&self) -> SpendContext {
        SpendContext {
            height: self.tip_height() + 1,
            median_time_past: self.median_time_past(self.tip_height()),
        }
    }

    /// Validates `block` on top of the tip and makes it the new tip.
    pub fn connect(&mut self, block: Block) -> Result<(), RejectReason> {
        let tip = self.tip();
        assert_eq!(
            block.header.prev_blockhash,
            self.tip_hash(),
            "block must extend the tip"
        );
        let height = tip.height + 1;
        let chainwork = tip.chainwork + block.header.work();
        check_block_shape(&block)?;
        let ctx = self.next_block_context();
        let hash = block.block_hash();

        let mut spent: Vec<(OutPoint, Coin)> = Vec::new();
        let mut created: Vec<OutPoint> = Vec::new();
        let mut fees_sat: u64 = 0;
        let mut outcome = Ok(());
        for tx in block.txdata.iter().skip(1) {
            let result = validation::check_transaction(tx).and_then(|()| {
                validation::check_inputs(
                    tx,
                    ctx,
                    |op| self.utxos.get(op).cloned(),
                    |h| self.median_time_past(h),
                )
            });
            match result {
                Ok(fee_sat) => {
                    fees_sat += fee_sat;
                    self.apply_tx(tx, height, false, &mut spent, &mut created);
                }
                Err(reason) => {
                    outcome = Err(reason);
                    break;
                }
            }
        }
        let coinbase = &block.txdata[0];
        let allowed_sat = block_subsidy_sat(height) + fees_sat;
        let paid_sat: u64 = coinbase.output.iter().map(|o| o.value.to_sat()).sum();
        if outcome.is_ok() && paid_sat > allowed_sat {
            outcome = Err(RejectReason::CoinbaseOverpays {
                paid_sat,
                allowed_sat,
            });
        }
        if let Err(reason) = outcome {
            self.revert(&spent, &created);
            return Err(reason);
        }
        self.apply_tx(coinbase, height, true, &mut spent, &mut created);
        for tx in &block.txdata {
            self.tx_index.insert(tx.compute_txid(), hash);
        }
        self.undo.insert(hash, spent);
        self.active.push(hash);
        self.records.insert(
            hash,
            BlockRecord {
                block,
                height,
                chainwork,
            },
        );
        Ok(())
    }

    fn apply_tx(
        &mut self,
        tx: &Transaction,
        height: u32,
        is_coinbase: bool,
        spent: &mut Vec<(OutPoint, Coin)>,
        created: &mut Vec<OutPoint>,
    ) {
        if !is_coinbase {
            for input in &tx.input {
                let coin = self
                    .utxos
                    .remove(&input.previous_output)
                    .expect("checked input");
                spent.push((input.previous_output, coin));
            }
        }
        let txid = tx.compute_txid();
        for (vout, output) in tx.output.iter().enumerate() {
            if output.script_pubkey.is_op_return() {
                continue;
            }
            let outpoint = OutPoint::new(txid, vout as u32);
            self.utxos.insert(
                outpoint,
                Coin {
                    output: output.clone(),
                    height,
                    is_coinbase,
                },
            );
            created.push(outpoint);
        }
    }

    fn revert(&mut self, spent: &[(OutPoint, Coin)], created: &[OutPoint]) {
        for outpoint in created {
            self.utxos.remove(outpoint);
        }
        for (outpoint, coin) in spent.iter().rev() {
            self.utxos.insert(*outpoint, coin.clone());
        }
    }

    /// Disconnects the tip and returns its block; the record stays known as a stale block.
    pub fn disconnect_tip(&mut self) -> Block {
        assert!(self.tip_height() > 0, "genesis cannot be disconnected");
        let hash = self.active.pop().expect("non-empty chain");
        let block = self.records[&hash].block.clone();
        let spent = self.undo.remove(&hash).unwrap_or_default();
        let created: Vec<OutPoint> = block
            .txdata
            .iter()
            .flat_map(|tx| {
                let txid = tx.compute_txid();
                (0..tx.output.len() as u32).map(move |vout| OutPoint::new(txid, vout))
            })
            .collect();
        self.revert(&spent, &created);
        for tx in &block.txdata {
            self.tx_index.remove(&tx.compute_txid());
        }
        block
    }
}

/// Proof of work, merkle root and witness commitment: what makes a block well formed.
fn check_block_shape(block: &Block) -> Result<(), RejectReason> {
    let header: &Header = &block.header;
    let bad = RejectReason::BadBlock;
    header
        .validate_pow(header.target())
        .map_err(|_| bad("high-hash"))?;
    if !block.check_merkle_root() {
        return Err(bad("bad-txnmrklroot"));
    }
    if !block.check_witness_commitment() {
        return Err(bad("bad-witness-merkle-match"));
    }
    if block.txdata.first().is_none_or(|tx| !tx.is_coinbase())
        || block.txdata.iter().skip(1).any(|tx| tx.is_coinbase())
    {
        return Err(bad("bad-cb-missing"));
    }
    Ok(())
}
