//! Why the ledger refused an operation.

use store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("no account {0}")]
    UnknownAccount(String),
    #[error("no tenant {0}")]
    UnknownTenant(String),
    #[error("account {account} has {available_msat} msat available, {needed_msat} msat needed")]
    InsufficientFunds {
        account: String,
        available_msat: i64,
        needed_msat: u64,
    },
    #[error("an account named {0:?} already exists for this tenant")]
    DuplicateName(String),
    #[error("{0} already exists")]
    DuplicateId(String),
    #[error("journal entry does not balance: postings sum to {sum_msat} msat")]
    Unbalanced { sum_msat: i128 },
    #[error("journal entry has no postings, or a posting of zero")]
    EmptyPosting,
    #[error("amount {0} msat is zero or above 21 million BTC")]
    AmountOutOfRange(u64),
    #[error("no hold {0}")]
    UnknownHold(String),
    #[error("hold {id} is already {state}")]
    HoldNotActive { id: String, state: String },
    #[error(
        "settling hold {id} would debit {debit_msat} msat, more than the {held_msat} msat held"
    )]
    SettlementExceedsHold {
        id: String,
        held_msat: u64,
        debit_msat: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Refuses zero and anything above the 21-million-BTC bound.
pub(crate) fn check_amount(amount_msat: u64) -> Result<(), LedgerError> {
    if amount_msat == 0 || amount_msat > crate::MAX_MONEY_MSAT {
        return Err(LedgerError::AmountOutOfRange(amount_msat));
    }
    Ok(())
}
