//! Block assembly: a BIP34 coinbase with a witness commitment, mempool transactions in
//! dependency order, and a regtest proof of work.

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash;
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Witness,
};

/// Regtest's minimum difficulty (Core's `powLimit` for regtest).
const REGTEST_BITS: u32 = 0x207f_ffff;
/// Leave room for the coinbase under the 4M weight limit.
const MAX_BLOCK_TX_WEIGHT: u64 = 4_000_000 - 8_000;

pub(crate) struct Template<'a> {
    pub prev: BlockHash,
    pub height: u32,
    pub time: u32,
    pub reward_sat: u64,
    pub payout: &'a ScriptBuf,
    /// Makes every coinbase unique, so a block re-mined at the same height after a reorg
    /// gets a new hash.
    pub extra_nonce: u64,
}

/// Picks transactions (already in dependency order) that fit in a block.
pub(crate) fn select<'a>(
    candidates: impl Iterator<Item = (&'a Transaction, u64)>,
) -> (Vec<Transaction>, u64) {
    let mut weight = 0;
    let mut fees_sat = 0;
    let mut chosen = Vec::new();
    for (tx, fee_sat) in candidates {
        let tx_weight = tx.weight().to_wu();
        if weight + tx_weight > MAX_BLOCK_TX_WEIGHT {
            break; // Later transactions may depend on this one; stop to keep the order valid.
        }
        weight += tx_weight;
        fees_sat += fee_sat;
        chosen.push(tx.clone());
    }
    (chosen, fees_sat)
}

pub(crate) fn assemble(template: Template<'_>, transactions: Vec<Transaction>) -> Block {
    let mut script_sig_nonce = PushBytesBuf::new();
    script_sig_nonce
        .extend_from_slice(&template.extra_nonce.to_le_bytes())
        .expect("8 bytes fit a push");
    let coinbase = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: Builder::new()
                .push_int(i64::from(template.height))
                .push_slice(script_sig_nonce)
                .into_script(),
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[[0u8; 32]]),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(template.reward_sat),
            script_pubkey: template.payout.clone(),
        }],
    };
    let mut txdata = Vec::with_capacity(transactions.len() + 1);
    txdata.push(coinbase);
    txdata.extend(transactions);

    let mut block = Block {
        header: Header {
            version: BlockVersion::from_consensus(0x2000_0000),
            prev_blockhash: template.prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time: template.time,
            bits: CompactTarget::from_consensus(REGTEST_BITS),
            nonce: 0,
        },
        txdata,
    };
    // The coinbase's wtxid counts as zero in the witness root, so it can be computed first.
    let witness_root = block.witness_root().expect("block has a coinbase");
    let commitment = Block::compute_witness_commitment(&witness_root, &[0u8; 32]);
    let mut commitment_script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
    commitment_script.extend_from_slice(commitment.as_byte_array());
    block.txdata[0].output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::from_bytes(commitment_script),
    });
    block.header.merkle_root = block.compute_merkle_root().expect("block has transactions");

    let target = block.header.target();
    while block.header.validate_pow(target).is_err() {
        block.header.nonce = block
            .header
            .nonce
            .checked_add(1)
            .expect("regtest target is found long before");
    }
    block
}
