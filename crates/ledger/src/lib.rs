//! `ledger`: Fulgur's double-entry books. Tenants (business units) own accounts; every
//! movement of money is a journal entry whose postings sum to zero; holds set funds aside
//! for in-flight payments (available = balance − pending). No account goes negative
//! unless it is configured to — checked here and enforced again by the database.
//!
//! Every operation takes an open transaction (`&mut dyn Sql`) so that callers combine it
//! atomically with their own state changes (a payment row, an outbox event). Amounts are
//! msat; a posting's sign says which way money moved for that account.

mod accounts;
mod check;
mod error;
mod holds;
mod journal;

pub use crate::accounts::{
    create_account, create_tenant, get_account, list_accounts, lock_account, Account, AccountKind,
    NewAccount,
};
pub use crate::check::{check_books, BooksReport};
pub use crate::error::LedgerError;
pub use crate::holds::{place_hold, release_hold, settle_hold, Hold, HoldState};
pub use crate::journal::{entries, post, Entry, JournalEntry, Posting};

/// 21 million BTC in msat: no amount Fulgur accepts can exceed it.
pub const MAX_MONEY_MSAT: u64 = 21_000_000 * 100_000_000 * 1_000;

#[cfg(test)]
mod tests {
    use super::{AccountKind, HoldState};

    #[test]
    fn kinds_and_states_round_trip() {
        use AccountKind::*;
        for kind in [Customer, Node, Equity, FeeIncome] {
            assert_eq!(AccountKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(AccountKind::parse("asset"), None);
        for state in [HoldState::Active, HoldState::Settled, HoldState::Released] {
            assert_eq!(state.as_str().parse().ok(), Some(state));
        }
        assert!("pending".parse::<HoldState>().is_err());
    }
}
