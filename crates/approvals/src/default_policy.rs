//! The customer's policy, the default: below 10,000 EUR the operations HSM key and one
//! executive; from 10,000 EUR also the backup HSM key; emergency recovery 4 of the 5 keys
//! (operations HSM, backup HSM, CEO, CTO, custodian). Approvers have a day.

use std::collections::BTreeMap;

use crate::{Approver, Match, Operation, Outcome, Policy, Requirement, Rule};

/// 10,000 EUR.
pub const LARGE_PAYMENT_EUR_CENTS: u64 = 1_000_000;
const DAY_SECS: u32 = 86_400;

/// The five keys of the customer's policy.
pub struct CustomerKeys {
    pub operations_hsm: Approver,
    pub backup_hsm: Approver,
    pub ceo: Approver,
    pub cto: Approver,
    pub custodian: Approver,
}

fn group(name: &str, count: u32) -> Requirement {
    Requirement::Group {
        group: name.to_string(),
        count,
    }
}

fn require(approvals: Requirement) -> Outcome {
    Outcome::Require {
        approvals,
        initiator_may_approve: false,
        expires_in_secs: DAY_SECS,
    }
}

pub fn customer_default(keys: CustomerKeys) -> Policy {
    let ids = |list: &[&Approver]| list.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
    let groups = BTreeMap::from([
        ("operations-hsm".to_string(), ids(&[&keys.operations_hsm])),
        ("backup-hsm".to_string(), ids(&[&keys.backup_hsm])),
        ("executives".to_string(), ids(&[&keys.ceo, &keys.cto])),
        (
            "emergency".to_string(),
            ids(&[
                &keys.operations_hsm,
                &keys.backup_hsm,
                &keys.ceo,
                &keys.cto,
                &keys.custodian,
            ]),
        ),
    ]);
    Policy {
        groups,
        rules: vec![
            Rule {
                name: "emergency-recovery".into(),
                when: Match {
                    operation: Operation::EmergencyRecovery,
                    ..Match::default()
                },
                then: require(group("emergency", 4)),
            },
            Rule {
                name: "large-payment".into(),
                when: Match {
                    min_eur_cents: Some(LARGE_PAYMENT_EUR_CENTS),
                    ..Match::default()
                },
                then: require(Requirement::All(vec![
                    group("operations-hsm", 1),
                    group("backup-hsm", 1),
                    group("executives", 1),
                ])),
            },
            Rule {
                name: "payment".into(),
                when: Match::default(),
                then: require(Requirement::All(vec![
                    group("operations-hsm", 1),
                    group("executives", 1),
                ])),
            },
        ],
        approvers: vec![
            keys.operations_hsm,
            keys.backup_hsm,
            keys.ceo,
            keys.cto,
            keys.custodian,
        ],
    }
}
