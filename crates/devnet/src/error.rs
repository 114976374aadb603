//! Why the chain refused a transaction or a request.

use bitcoin::{BlockHash, OutPoint, Txid};

/// A transaction the mempool or a block refused, with the reason Bitcoin Core would give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error("bad-txns-vin-empty")]
    NoInputs,
    #[error("bad-txns-vout-empty")]
    NoOutputs,
    #[error("bad-txns-inputs-duplicate")]
    DuplicateInput,
    #[error("bad-txns-txouttotal-toolarge")]
    OutputTotalTooLarge,
    #[error("bad-txns-oversize")]
    Oversize,
    #[error("coinbase")]
    Coinbase,
    #[error("bad-txns-inputs-missingorspent: {0}")]
    MissingOrSpent(OutPoint),
    #[error(
        "bad-txns-premature-spend-of-coinbase: {outpoint} has {confirmations} of 100 confirmations"
    )]
    PrematureCoinbaseSpend {
        outpoint: OutPoint,
        confirmations: u32,
    },
    #[error("bad-txns-in-belowout: inputs {inputs_sat} sat < outputs {outputs_sat} sat")]
    InputsBelowOutputs { inputs_sat: u64, outputs_sat: u64 },
    #[error("non-final: absolute locktime not reached")]
    NonFinal,
    #[error("non-BIP68-final: relative locktime of input {input} not reached")]
    NonBip68Final { input: usize },
    #[error("mandatory-script-verify-flag-failed: input {input}: {detail}")]
    ScriptFailed { input: usize, detail: String },
    #[error("txn-mempool-conflict: spends an output already spent by {conflicting}")]
    MempoolConflict { conflicting: Txid },
    #[error("insufficient fee: replacement pays {fee_sat} sat, needs more than {required_sat} sat and a higher fee rate")]
    InsufficientReplacementFee { fee_sat: u64, required_sat: u64 },
    #[error("txn-already-known: already confirmed in the active chain")]
    AlreadyConfirmed,
    #[error("{0}")]
    BadBlock(&'static str),
    #[error("bad-cb-amount: coinbase pays {paid_sat} sat, allowed {allowed_sat} sat")]
    CoinbaseOverpays { paid_sat: u64, allowed_sat: u64 },
}

impl RejectReason {
    /// The JSON-RPC error code bitcoind uses for this kind of rejection.
    pub fn rpc_code(&self) -> i64 {
        match self {
            RejectReason::MissingOrSpent(_) => -25,
            RejectReason::AlreadyConfirmed => -27,
            _ => -26,
        }
    }
}

/// Errors of the devnet API.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    #[error("transaction rejected: {0}")]
    Rejected(#[from] RejectReason),
    #[error("unknown block {0}")]
    UnknownBlock(BlockHash),
    #[error("block height {0} out of range")]
    HeightOutOfRange(u32),
    #[error("cannot invalidate the genesis block")]
    GenesisInvalidation,
    #[error("faucet has {available_sat} sat mature, {requested_sat} sat requested")]
    FaucetEmpty {
        available_sat: u64,
        requested_sat: u64,
    },
    #[error("block store: {0}")]
    Store(#[from] std::io::Error),
    #[error("block store is corrupt: {0}")]
    CorruptStore(String),
    #[error("invalid block in store at height {height}: {reason}")]
    InvalidStoredBlock { height: u32, reason: RejectReason },
}
