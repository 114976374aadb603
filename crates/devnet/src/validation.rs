//! Transaction rules shared by mempool acceptance and block connection: structure, coin
//! maturity, absolute and relative (BIP68) timelocks, amounts, and scripts (libbitcoinconsensus).

use std::collections::HashSet;

use bitcoin::consensus::encode::serialize;
use bitcoin::{Amount, OutPoint, Transaction, TxOut};

use crate::error::RejectReason;

pub(crate) const COINBASE_MATURITY: u32 = 100;
const MAX_MONEY_SAT: u64 = 21_000_000 * 100_000_000;
const MAX_TX_WEIGHT: u64 = 400_000;
const LOCKTIME_THRESHOLD: u32 = 500_000_000;
const SEQUENCE_DISABLE_FLAG: u32 = 1 << 31;
const SEQUENCE_TYPE_FLAG: u32 = 1 << 22;
const SEQUENCE_MASK: u32 = 0x0000_ffff;
const SEQUENCE_GRANULARITY_SHIFT: u32 = 9;

/// An unspent output as the chain knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coin {
    pub output: TxOut,
    /// Height of the block that created it; the next block's height for a mempool output.
    pub height: u32,
    pub is_coinbase: bool,
}

/// Where the transaction would be mined: the next block's height and the median time past
/// of its parent (BIP113).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpendContext {
    pub height: u32,
    pub median_time_past: u32,
}

/// Context-free checks (Core's CheckTransaction), for non-coinbase transactions.
pub(crate) fn check_transaction(tx: &Transaction) -> Result<(), RejectReason> {
    if tx.is_coinbase() {
        return Err(RejectReason::Coinbase);
    }
    if tx.input.is_empty() {
        return Err(RejectReason::NoInputs);
    }
    if tx.output.is_empty() {
        return Err(RejectReason::NoOutputs);
    }
    if tx.weight().to_wu() > MAX_TX_WEIGHT {
        return Err(RejectReason::Oversize);
    }
    let mut total_sat: u64 = 0;
    for output in &tx.output {
        total_sat = total_sat.saturating_add(output.value.to_sat());
        if output.value.to_sat() > MAX_MONEY_SAT || total_sat > MAX_MONEY_SAT {
            return Err(RejectReason::OutputTotalTooLarge);
        }
    }
    let mut seen = HashSet::with_capacity(tx.input.len());
    if !tx
        .input
        .iter()
        .all(|input| seen.insert(input.previous_output))
    {
        return Err(RejectReason::DuplicateInput);
    }
    Ok(())
}

/// Checks a transaction's inputs against the coins it spends and returns its fee in sat.
///
/// `coin` finds a spendable coin; `median_time_past_at` gives the median time past of the
/// active-chain block at a height (for time-based relative locks).
pub(crate) fn check_inputs(
    tx: &Transaction,
    ctx: SpendContext,
    coin: impl Fn(&OutPoint) -> Option<Coin>,
    median_time_past_at: impl Fn(u32) -> u32,
) -> Result<u64, RejectReason> {
    let coins = tx
        .input
        .iter()
        .map(|input| {
            coin(&input.previous_output).ok_or(RejectReason::MissingOrSpent(input.previous_output))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut inputs_sat: u64 = 0;
    for (input, coin) in tx.input.iter().zip(&coins) {
        if coin.is_coinbase && ctx.height.saturating_sub(coin.height) < COINBASE_MATURITY {
            return Err(RejectReason::PrematureCoinbaseSpend {
                outpoint: input.previous_output,
                confirmations: ctx.height.saturating_sub(coin.height),
            });
        }
        inputs_sat = inputs_sat.saturating_add(coin.output.value.to_sat());
    }
    let outputs_sat: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
    if inputs_sat < outputs_sat {
        return Err(RejectReason::InputsBelowOutputs {
            inputs_sat,
            outputs_sat,
        });
    }

    if !is_final(tx, ctx) {
        return Err(RejectReason::NonFinal);
    }
    check_sequence_locks(tx, ctx, &coins, median_time_past_at)?;
    verify_scripts(tx, &coins)?;
    Ok(inputs_sat - outputs_sat)
}

/// Core's IsFinalTx with BIP113: height locks against the next height, time locks against
/// the parent's median time past.
fn is_final(tx: &Transaction, ctx: SpendContext) -> bool {
    let lock = tx.lock_time.to_consensus_u32();
    if lock == 0 {
        return true;
    }
    let limit = if lock < LOCKTIME_THRESHOLD {
        ctx.height
    } else {
        ctx.median_time_past
    };
    lock < limit || tx.input.iter().all(|input| input.sequence.0 == u32::MAX)
}

/// BIP68: relative locks of version-2 transactions.
fn check_sequence_locks(
    tx: &Transaction,
    ctx: SpendContext,
    coins: &[Coin],
    median_time_past_at: impl Fn(u32) -> u32,
) -> Result<(), RejectReason> {
    if tx.version.0 < 2 {
        return Ok(());
    }
    for (index, (input, coin)) in tx.input.iter().zip(coins).enumerate() {
        let sequence = input.sequence.0;
        if sequence & SEQUENCE_DISABLE_FLAG != 0 {
            continue;
        }
        let value = i64::from(sequence & SEQUENCE_MASK);
        let satisfied = if sequence & SEQUENCE_TYPE_FLAG != 0 {
            let coin_time = i64::from(median_time_past_at(coin.height.saturating_sub(1)));
            let min_time = coin_time + (value << SEQUENCE_GRANULARITY_SHIFT) - 1;
            min_time < i64::from(ctx.median_time_past)
        } else {
            let min_height = i64::from(coin.height) + value - 1;
            min_height < i64::from(ctx.height)
        };
        if !satisfied {
            return Err(RejectReason::NonBip68Final { input: index });
        }
    }
    Ok(())
}

fn verify_scripts(tx: &Transaction, coins: &[Coin]) -> Result<(), RejectReason> {
    let serialized = serialize(tx);
    for (index, coin) in coins.iter().enumerate() {
        bitcoin::consensus::verify_script(
            &coin.output.script_pubkey,
            index,
            Amount::from_sat(coin.output.value.to_sat()),
            &serialized,
        )
        .map_err(|e| RejectReason::ScriptFailed {
            input: index,
            detail: e.to_string(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{ScriptBuf, Sequence, TxIn, Witness};

    fn tx_with(lock: u32, sequence: u32, version: i32) -> Transaction {
        Transaction {
            version: Version(version),
            lock_time: LockTime::from_consensus(lock),
            input: vec![TxIn {
                previous_output: OutPoint::new(bitcoin::Txid::from_byte_array([1; 32]), 0),
                script_sig: ScriptBuf::new(),
                sequence: Sequence(sequence),
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1),
                script_pubkey: ScriptBuf::new(),
            }],
        }
    }

    use bitcoin::hashes::Hash;

    #[test]
    fn absolute_height_lock_is_final_only_above_the_lock() {
        let ctx = SpendContext {
            height: 200,
            median_time_past: 1_700_000_000,
        };
        assert!(is_final(&tx_with(199, 0, 2), ctx));
        assert!(!is_final(&tx_with(200, 0, 2), ctx));
        assert!(
            is_final(&tx_with(200, u32::MAX, 2), ctx),
            "all-final sequences disable the lock"
        );
    }

    #[test]
    fn absolute_time_lock_uses_median_time_past() {
        let ctx = SpendContext {
            height: 200,
            median_time_past: 1_700_000_000,
        };
        assert!(is_final(&tx_with(1_699_999_999, 0, 2), ctx));
        assert!(!is_final(&tx_with(1_700_000_000, 0, 2), ctx));
    }

    #[test]
    fn relative_height_lock_counts_from_the_coin_height() {
        let coin = Coin {
            output: TxOut::NULL,
            height: 100,
            is_coinbase: false,
        };
        let tx = tx_with(0, 10, 2);
        let early = SpendContext {
            height: 109,
            median_time_past: 0,
        };
        let ready = SpendContext {
            height: 110,
            median_time_past: 0,
        };
        assert!(check_sequence_locks(&tx, early, std::slice::from_ref(&coin), |_| 0).is_err());
        assert!(check_sequence_locks(&tx, ready, std::slice::from_ref(&coin), |_| 0).is_ok());
        assert!(
            check_sequence_locks(&tx_with(0, 10, 1), early, &[coin], |_| 0).is_ok(),
            "v1 ignores BIP68"
        );
    }

    #[test]
    fn relative_time_lock_counts_512_second_units_from_the_coin_time() {
        let coin = Coin {
            output: TxOut::NULL,
            height: 100,
            is_coinbase: false,
        };
        let tx = tx_with(0, SEQUENCE_TYPE_FLAG | 2, 2);
        let coin_mtp = 1_000_000;
        let early = SpendContext {
            height: 200,
            median_time_past: coin_mtp + 1024 - 1,
        };
        let ready = SpendContext {
            height: 200,
            median_time_past: coin_mtp + 1024,
        };
        assert!(
            check_sequence_locks(&tx, early, std::slice::from_ref(&coin), |_| coin_mtp).is_err()
        );
        assert!(check_sequence_locks(&tx, ready, &[coin], |_| coin_mtp).is_ok());
    }
}
