//! What compliance refuses, each with a stable machine code (the API's problem `code`).

use screening::ListError;
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ComplianceError {
    #[error("{field} is invalid: {reason}")]
    InvalidField { field: &'static str, reason: String },
    /// A list file refused whole; the version in force stays.
    #[error("the list is refused, the version in force stays: {0}")]
    ListRefused(#[from] ListError),
    /// The list files are not what the format needs (a missing file).
    #[error("the list is refused, the version in force stays: {0}")]
    ListIncomplete(String),
    #[error("{0} is already on the watchlist")]
    AlreadyWatched(String),
    #[error("no watchlist item {0}")]
    UnknownWatchItem(String),
    #[error("no such customer")]
    UnknownCustomer,
    /// The account's customer may not send until verified.
    #[error("the account's customer is {0}: payments wait for a verified customer")]
    CustomerNotVerified(&'static str),
    #[error("the customer's {window} limit is {limit_eur_cents} EUR cents; with this payment its accounts would have sent {would_be_eur_cents}")]
    CustomerLimitExceeded {
        window: &'static str,
        limit_eur_cents: u64,
        would_be_eur_cents: u64,
    },
    #[error("the screening lists are still loading")]
    Loading,
    /// Screening stopped an operation. The sentence says nothing of why: the caller may
    /// be the party screened (tipping-off); the evidence is kept for compliance.
    #[error("this payment cannot be made")]
    Blocked,
    /// A monitoring rule blocked it: the gateway records the alert, then answers
    /// [`ComplianceError::Blocked`].
    #[error("this payment cannot be made")]
    BlockedBy(Box<crate::alerts::AlertDraft>),
    /// A recovery's address is on a sanctions list or the watchlist.
    #[error("this address cannot be used")]
    AddressBlocked,
    #[error("no alert {0}")]
    UnknownAlert(String),
    #[error("the alert is {0}: it takes no decision")]
    AlertDecided(&'static str),
    #[error("no case {0}")]
    UnknownCase(String),
    #[error("alert {0} is in another case already")]
    AlertInCase(String),
    #[error("the case is {0}: it takes no more changes")]
    CaseClosed(&'static str),
    #[error("case {0} has a report drafted and not filed: file it before closing the case")]
    ReportPending(String),
    #[error("case {0} has no report: draft one first")]
    NoReport(String),
    #[error("the report is filed already (reference {0})")]
    ReportFiled(String),
    /// goAML's report is about transactions; a case of alerts without one is exported as
    /// JSON only.
    #[error("the case's alerts name no payment: goAML needs at least one transaction; export it as JSON")]
    NoTransactions,
    /// The customer's relationship ended: it sends nothing and changes no more.
    #[error("the customer relationship has ended")]
    RelationshipEnded,
    #[error("no monitoring rule set version {0}")]
    UnknownRuleSet(i64),
    #[error("rule set version {version} is {state}: only a proposed version can be approved")]
    RuleSetNotProposed { version: i64, state: &'static str },
    #[error("rule set version {version} was proposed against another version than the one in force (v{in_force}): propose the change again")]
    RuleSetStale { version: i64, in_force: i64 },
    #[error("a rule set change is approved by a second person, not by who proposed it")]
    SecondPersonRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ComplianceError {
    /// Stable, documented, never reworded: clients branch on it.
    pub fn code(&self) -> &'static str {
        match self {
            ComplianceError::InvalidField { .. } => "invalid_field",
            ComplianceError::ListRefused(_) | ComplianceError::ListIncomplete(_) => "list_refused",
            ComplianceError::AlreadyWatched(_) => "already_watched",
            ComplianceError::UnknownWatchItem(_) => "watch_item_not_found",
            ComplianceError::UnknownCustomer => "customer_not_found",
            ComplianceError::CustomerNotVerified(_) => "customer_not_verified",
            ComplianceError::CustomerLimitExceeded { .. } => "customer_limit_exceeded",
            ComplianceError::Loading => "screening_loading",
            ComplianceError::Blocked
            | ComplianceError::BlockedBy(_)
            | ComplianceError::AddressBlocked => "compliance_blocked",
            ComplianceError::UnknownAlert(_) => "alert_not_found",
            ComplianceError::AlertDecided(_) => "alert_decided",
            ComplianceError::UnknownCase(_) => "case_not_found",
            ComplianceError::AlertInCase(_) => "alert_in_case",
            ComplianceError::CaseClosed(_) => "case_closed",
            ComplianceError::ReportPending(_) => "report_pending",
            ComplianceError::NoReport(_) => "report_not_found",
            ComplianceError::ReportFiled(_) => "report_filed",
            ComplianceError::NoTransactions => "report_without_transactions",
            ComplianceError::RelationshipEnded => "customer_relationship_ended",
            ComplianceError::UnknownRuleSet(_) => "rule_set_not_found",
            ComplianceError::RuleSetNotProposed { .. } => "rule_set_not_proposed",
            ComplianceError::RuleSetStale { .. } => "rule_set_stale",
            ComplianceError::SecondPersonRequired => "second_person_required",
            ComplianceError::Store(e) => e.code(),
        }
    }
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> ComplianceError {
    ComplianceError::InvalidField {
        field,
        reason: reason.into(),
    }
}
