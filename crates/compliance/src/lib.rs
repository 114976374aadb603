//! `compliance`: what a compliance officer runs — the sanctions lists in force (versioned,
//! audited loads of OFAC's and OpenSanctions' files), the internal watchlist, and the
//! screening of names, node keys and addresses against both.
//!
//! The matching itself is the pure `screening` crate; this crate keeps list versions and
//! watchlist items in the store (functions over the caller's transaction, `&mut dyn Sql`)
//! and the in-memory indexes built from them ([`Screening`]). It knows nothing of payments
//! or HTTP: the gateway's pipeline and the API call it.

mod error;
pub mod lists;
mod screener;
pub mod watchlist;

pub use crate::error::ComplianceError;
pub use crate::lists::{Imported, ListFile, ListFormat, ListVersion, NewList, RefusedLine};
pub use crate::screener::{
    IdentifierHit, NameHit, Screening, ScreeningConfig, MAX_HITS_PER_NAME, MIN_THRESHOLD,
};
pub use crate::watchlist::{WatchItem, WatchKind, INTERNAL_LIST};
