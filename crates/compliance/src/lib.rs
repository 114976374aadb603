//! `compliance`: what a compliance officer runs — the sanctions lists in force (versioned,
//! audited loads of OFAC's and OpenSanctions' files), the internal watchlist, and the
//! screening of names, node keys and addresses against both; customers and their
//! due-diligence profile (risk from a documented table, KYC status, EUR limits checked in
//! each payment's transaction).
//!
//! The matching itself is the pure `screening` crate; this crate keeps list versions and
//! watchlist items in the store (functions over the caller's transaction, `&mut dyn Sql`)
//! and the in-memory indexes built from them ([`Screening`]). It knows nothing of payments
//! or HTTP: the gateway's pipeline and the API call it.

pub mod alerts;
pub mod cases;
pub mod customers;
mod due_diligence;
mod error;
pub mod lists;
pub mod period_report;
pub mod rescreen;
mod rescreening;
pub mod retention;
pub mod risk;
pub mod rule_sets;
mod screener;
pub mod watchlist;

pub use crate::alerts::{Alert, AlertDecision, AlertDraft, AlertFilter, AlertState};
pub use crate::cases::{Case, CaseChange, CaseState, Note, ReportRecord, ReportState};
pub use crate::customers::Customer;
pub use crate::due_diligence::{check_payment, CustomerChange, DueDiligence, NewCustomer};
pub use crate::error::ComplianceError;
pub use crate::lists::{Imported, ListFile, ListFormat, ListVersion, NewList, RefusedLine};
pub use crate::period_report::{Period, PeriodReport};
pub use crate::rescreening::ClearanceState;
pub use crate::retention::RetentionConfig;
pub use crate::rule_sets::{RuleSetState, RuleSetVersion};
pub use crate::screener::{
    IdentifierHit, NameHit, Screening, ScreeningConfig, MAX_HITS_PER_NAME, MIN_THRESHOLD,
};
pub use crate::watchlist::{WatchItem, WatchKind, INTERNAL_LIST};
/// What a name is screened as (the matching is the `screening` crate's).
pub use screening::{Query, QueryKind};
