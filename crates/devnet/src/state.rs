//! The chain, its mempool and its block file behind one lock: every operation that changes
//! them (accept, mine, invalidate) keeps the three consistent.

use std::sync::Arc;

use bitcoin::{Block, BlockHash, OutPoint, ScriptBuf, Transaction, Txid};

use crate::chain::{block_subsidy_sat, ChainState};
use crate::clock::Clock;
use crate::error::{DevnetError, RejectReason};
use crate::faucet::Faucet;
use crate::mempool::Mempool;
use crate::miner::{self, Template};
use crate::store::BlockStore;
use crate::validation::{self, Coin, COINBASE_MATURITY};

/// Incremental relay fee for replacements (Core's default 1 sat/vB).
const INCREMENTAL_RELAY_SAT_PER_VB: u64 = 1;

pub(crate) struct State {
    pub chain: ChainState,
    pub mempool: Mempool,
    pub faucet: Faucet,
    store: Option<BlockStore>,
    clock: Arc<dyn Clock>,
    extra_nonce: u64,
}

impl State {
    pub fn new(
        store: Option<(BlockStore, Vec<Block>)>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, DevnetError> {
        let mut chain = ChainState::new();
        let store = match store {
            Some((store, blocks)) => {
                for block in blocks {
                    let height = chain.tip_height() + 1;
                    if block.header.prev_blockhash != chain.tip_hash() {
                        return Err(DevnetError::CorruptStore(format!(
                            "block at height {height} does not extend the tip"
                        )));
                    }
                    chain
                        .connect(block)
                        .map_err(|reason| DevnetError::InvalidStoredBlock { height, reason })?;
                }
                Some(store)
            }
            None => None,
        };
        let extra_nonce = u64::from(chain.tip_height());
        Ok(Self {
            chain,
            mempool: Mempool::default(),
            faucet: Faucet::new(),
            store,
            clock,
            extra_nonce,
        })
    }

    pub fn now_unix_secs(&self) -> u64 {
        self.clock.now_unix_secs()
    }

    /// A spendable coin for a transaction entering the mempool: confirmed or from a mempool
    /// parent, and not already spent by a mempool transaction other than those in `replaced`.
    fn mempool_view_coin(
        &self,
        outpoint: &OutPoint,
        replaced: &std::collections::HashSet<Txid>,
    ) -> Option<Coin> {
        if replaced.contains(&outpoint.txid) {
            return None;
        }
        let next_height = self.chain.tip_height() + 1;
        self.mempool
            .output(outpoint, next_height)
            .or_else(|| self.chain.coin(outpoint).cloned())
    }

    /// Mempool acceptance, with full-RBF replacement of conflicting transactions that pay
    /// less. Re-submitting a transaction already in the mempool succeeds, as in Core.
    pub fn accept(&mut self, tx: Transaction) -> Result<Txid, RejectReason> {
        let txid = tx.compute_txid();
        if self.mempool.contains(&txid) {
            return Ok(txid);
        }
        if self.chain.block_of(&txid).is_some() {
            return Err(RejectReason::AlreadyConfirmed);
        }
        validation::check_transaction(&tx)?;
        let conflicts: Vec<Txid> = tx
            .input
            .iter()
            .filter_map(|i| self.mempool.spender(&i.previous_output))
            .collect();
        let replaced = self.mempool.with_descendants(conflicts.iter().copied());
        let ctx = self.chain.next_block_context();
        let fee_sat = validation::check_inputs(
            &tx,
            ctx,
            |op| self.mempool_view_coin(op, &replaced),
            |h| self.chain.median_time_past(h),
        )?;
        if !conflicts.is_empty() {
            let replaced_fee_sat: u64 = replaced
                .iter()
                .filter_map(|t| self.mempool.get(t))
                .map(|e| e.fee_sat)
                .sum();
            let vsize = tx.vsize() as u64;
            let required_sat = replaced_fee_sat + vsize * INCREMENTAL_RELAY_SAT_PER_VB;
            let fee_rate = fee_sat * 1000 / vsize.max(1);
            let beats_rates = conflicts
                .iter()
                .filter_map(|t| self.mempool.get(t))
                .all(|e| fee_rate > e.fee_rate_msat_per_vb());
            if fee_sat < required_sat || !beats_rates {
                return Err(RejectReason::InsufficientReplacementFee {
                    fee_sat,
                    required_sat,
                });
            }
            for evicted in &replaced {
                self.mempool.remove(evicted);
            }
        }
        let (now, height) = (self.now_unix_secs(), self.chain.tip_height());
        self.mempool.insert(tx, fee_sat, now, height);
        Ok(txid)
    }

    /// Mines `count` blocks paying `payout`, each with what the mempool holds, and persists
    /// them before returning.
    pub fn mine(&mut self, count: u32, payout: &ScriptBuf) -> Result<Vec<BlockHash>, DevnetError> {
        let mut mined = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let height = self.chain.tip_height() + 1;
            let (transactions, fees_sat) = miner::select(
                self.mempool
                    .in_order()
                    .map(|entry| (&entry.tx, entry.fee_sat)),
            );
            let median_time_past = self.chain.median_time_past(self.chain.tip_height());
            let now = u32::try_from(self.now_unix_secs()).unwrap_or(u32::MAX);
            self.extra_nonce += 1;
            let block = miner::assemble(
                Template {
                    prev: self.chain.tip_hash(),
                    height,
                    time: now.max(median_time_past + 1),
                    reward_sat: block_subsidy_sat(height) + fees_sat,
                    payout,
                    extra_nonce: self.extra_nonce,
                },
                transactions,
            );
            self.chain
                .connect(block.clone())
                .map_err(DevnetError::Rejected)?;
            self.mempool.remove_for_block(&block.txdata);
            mined.push(block);
        }
        if let Some(store) = &mut self.store {
            store.append(&mined)?;
        }
        Ok(mined.iter().map(Block::block_hash).collect())
    }

    /// Disconnects `hash` and every block above it (Core's `invalidateblock`); their
    /// transactions return to the mempool where still valid.
    pub fn invalidate(&mut self, hash: BlockHash) -> Result<(), DevnetError> {
        if !self.chain.is_active(&hash) {
            return Err(DevnetError::UnknownBlock(hash));
        }
        let height = self.chain.record(&hash).map(|r| r.height).unwrap_or(0);
        if height == 0 {
            return Err(DevnetError::GenesisInvalidation);
        }
        let mut disconnected = Vec::new();
        while self.chain.tip_height() >= height {
            disconnected.push(self.chain.disconnect_tip());
        }
        let pending = self.mempool.drain();
        let returning = disconnected
            .iter()
            .rev()
            .flat_map(|b| b.txdata.iter().skip(1).cloned());
        for tx in returning.chain(pending) {
            // Transactions no longer valid (e.g. spending a now-missing coinbase) drop out.
            let _ = self.accept(tx);
        }
        if let Some(store) = &mut self.store {
            store.rewrite(self.chain.active_blocks().skip(1))?;
        }
        Ok(())
    }

    /// Mature confirmed faucet coins not spent in the mempool.
    pub fn faucet_coins(&self) -> Vec<(OutPoint, Coin)> {
        let next_height = self.chain.tip_height() + 1;
        let mut coins: Vec<(OutPoint, Coin)> = self
            .chain
            .utxos()
            .filter(|(outpoint, coin)| {
                coin.output.script_pubkey == *self.faucet.script_pubkey()
                    && (!coin.is_coinbase || next_height - coin.height >= COINBASE_MATURITY)
                    && self.mempool.spender(outpoint).is_none()
            })
            .map(|(outpoint, coin)| (*outpoint, coin.clone()))
            .collect();
        coins.sort_by_key(|(outpoint, coin)| (coin.height, *outpoint));
        coins
    }

    /// Pays `outputs` from the faucet in one transaction and puts it in the mempool.
    pub fn fund(&mut self, outputs: &[(ScriptBuf, u64)]) -> Result<Txid, DevnetError> {
        let coins = self.faucet_coins();
        let requested_sat: u64 = outputs.iter().map(|(_, sat)| sat).sum();
        let tx = self
            .faucet
            .pay(&coins, outputs)
            .ok_or_else(|| DevnetError::FaucetEmpty {
                available_sat: coins.iter().map(|(_, c)| c.output.value.to_sat()).sum(),
                requested_sat,
            })?;
        Ok(self.accept(tx)?)
    }
}
