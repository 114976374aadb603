//! `aml`: transaction monitoring rules as pure logic. A payment's facts and its payer's
//! recent history (the customer's, or the account's when it has none) go in; findings come
//! out, each with the rule, the decision (review or block), a score in [0, 1] and the
//! evidence in words. No store, no clock, no HTTP: the compliance crate gathers the
//! history in the payment's transaction and records the findings as alerts.
//!
//! Every rule is parametrised in [`RuleSet`] (versioned: each finding records the version
//! it was made under) and bounded: the history is at most [`MAX_HISTORY`] payments.

mod rules;
mod stats;

pub use crate::rules::{
    evaluate, Decision, Direction, Finding, PastPayment, PaymentFacts, RuleParams, RuleSet,
    LARGE_PAYMENT, MAX_HISTORY,
};
