//! An approval policy: approvers in named groups, and an ordered list of rules, the first
//! match deciding whether a payment (or an emergency operation) is allowed, blocked, or
//! waits for signatures.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{ApprovalError, Approver};

/// Bounds a policy: rules, groups, approvers, nesting.
const MAX_RULES: usize = 256;
const MAX_GROUPS: usize = 64;
const MAX_APPROVERS: usize = 1_024;
const MAX_REQUIREMENT_DEPTH: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub approvers: Vec<Approver>,
    /// Group name → the ids of its approvers.
    pub groups: BTreeMap<String, Vec<String>>,
    /// First match wins; a payment no rule matches is blocked (deny by default).
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    #[serde(default)]
    pub when: Match,
    pub then: Outcome,
}

/// What is being approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    #[default]
    Payment,
    /// Recovery of funds or keys outside normal operation (customer: 4 of 5 keys).
    EmergencyRecovery,
}

/// Conditions, all of which must hold; an absent condition matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Match {
    #[serde(default)]
    pub operation: Operation,
    /// Amount in EUR cents at least this.
    pub min_eur_cents: Option<u64>,
    /// Amount in EUR cents below this.
    pub below_eur_cents: Option<u64>,
    pub accounts: Option<Vec<String>>,
    pub tenants: Option<Vec<String>>,
    /// Destination node pubkeys this rule is limited to (allowlist).
    pub destinations: Option<Vec<String>>,
    /// Destination node pubkeys this rule does not apply to (denylist).
    pub not_destinations: Option<Vec<String>>,
    /// Initiating credentials (API key ids, `oidc:…`, `cert:…`).
    pub initiators: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    Allow,
    Block {
        reason: String,
    },
    Require {
        approvals: Requirement,
        /// Whether the payment's initiator may be one of its approvers (default no).
        #[serde(default)]
        initiator_may_approve: bool,
        /// How long the approvers have, in seconds, before the payment is rejected.
        expires_in_secs: u32,
    },
}

/// Signatures needed: `count` members of a group, or combinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Requirement {
    Group { group: String, count: u32 },
    All(Vec<Requirement>),
    Any(Vec<Requirement>),
}

/// What a decision is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub operation: Operation,
    pub eur_cents: u64,
    pub account_id: String,
    pub tenant_id: String,
    pub destination: String,
    pub initiator: String,
}

/// The first matching rule and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `None`: no rule matched (blocked).
    pub rule: Option<String>,
    pub outcome: Outcome,
}

fn listed(list: &Option<Vec<String>>, value: &str) -> bool {
    list.as_ref().is_none_or(|l| l.iter().any(|v| v == value))
}

impl Match {
    pub fn matches(&self, facts: &Facts) -> bool {
        self.operation == facts.operation
            && self.min_eur_cents.is_none_or(|min| facts.eur_cents >= min)
            && self
                .below_eur_cents
                .is_none_or(|below| facts.eur_cents < below)
            && listed(&self.accounts, &facts.account_id)
            && listed(&self.tenants, &facts.tenant_id)
            && listed(&self.destinations, &facts.destination)
            && !self
                .not_destinations
                .as_ref()
                .is_some_and(|l| l.contains(&facts.destination))
            && listed(&self.initiators, &facts.initiator)
    }
}

impl Policy {
    /// The first rule matching `facts`; none matching blocks.
    pub fn decide(&self, facts: &Facts) -> Decision {
        match self.rules.iter().find(|r| r.when.matches(facts)) {
            Some(rule) => Decision {
                rule: Some(rule.name.clone()),
                outcome: rule.then.clone(),
            },
            None => Decision {
                rule: None,
                outcome: Outcome::Block {
                    reason: "no rule of the approval policy matches".into(),
                },
            },
        }
    }

    pub fn approver(&self, id: &str) -> Option<&Approver> {
        self.approvers.iter().find(|a| a.id == id)
    }

    /// The groups `approver` belongs to.
    pub fn groups_of(&self, approver: &str) -> BTreeSet<&str> {
        self.groups
            .iter()
            .filter(|(_, members)| members.iter().any(|m| m == approver))
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// Checks the policy is coherent: bounded; unique approver ids and rule names; groups
    /// name known approvers; requirements name known groups with counts they can reach.
    pub fn validate(&self) -> Result<(), ApprovalError> {
        let bad = |m: String| Err(ApprovalError::InvalidPolicy(m));
        if self.rules.is_empty() || self.rules.len() > MAX_RULES {
            return bad(format!("1 to {MAX_RULES} rules"));
        }
        if self.groups.len() > MAX_GROUPS || self.approvers.len() > MAX_APPROVERS {
            return bad(format!(
                "at most {MAX_GROUPS} groups and {MAX_APPROVERS} approvers"
            ));
        }
        let mut ids = BTreeSet::new();
        for approver in &self.approvers {
            approver.validate()?;
            if !ids.insert(approver.id.as_str()) {
                return bad(format!("approver {} listed twice", approver.id));
            }
        }
        for (group, members) in &self.groups {
            let unique: BTreeSet<&String> = members.iter().collect();
            if members.is_empty() || unique.len() != members.len() {
                return bad(format!("group {group} must list distinct approvers"));
            }
            if let Some(unknown) = members.iter().find(|m| !ids.contains(m.as_str())) {
                return bad(format!("group {group} names unknown approver {unknown}"));
            }
        }
        let mut names = BTreeSet::new();
        for rule in &self.rules {
            if !names.insert(rule.name.as_str()) {
                return bad(format!("rule {} named twice", rule.name));
            }
            // Emptying a node is never a one-person act: its rules require signatures
            // (or block); `allow` would let any administrator sweep the platform.
            if rule.when.operation == Operation::EmergencyRecovery && rule.then == Outcome::Allow {
                return bad(format!(
                    "rule {}: an emergency recovery needs approvals; allow is not an outcome for it",
                    rule.name
                ));
            }
            if let Outcome::Require {
                approvals,
                expires_in_secs,
                ..
            } = &rule.then
            {
                if !(60..=30 * 86_400).contains(expires_in_secs) {
                    return bad(format!(
                        "rule {}: expires_in_secs from 60 to 2,592,000",
                        rule.name
                    ));
                }
                self.check_requirement(&rule.name, approvals, 0)?;
            }
        }
        Ok(())
    }

    fn check_requirement(
        &self,
        rule: &str,
        requirement: &Requirement,
        depth: usize,
    ) -> Result<(), ApprovalError> {
        let bad = |m: String| Err(ApprovalError::InvalidPolicy(format!("rule {rule}: {m}")));
        if depth > MAX_REQUIREMENT_DEPTH {
            return bad(format!(
                "requirements nest at most {MAX_REQUIREMENT_DEPTH} deep"
            ));
        }
        match requirement {
            Requirement::Group { group, count } => match self.groups.get(group) {
                None => bad(format!("unknown group {group}")),
                Some(members) if *count == 0 || *count as usize > members.len() => bad(format!(
                    "{count} of group {group} ({} members)",
                    members.len()
                )),
                Some(_) => Ok(()),
            },
            Requirement::All(parts) | Requirement::Any(parts) => {
                if parts.is_empty() {
                    return bad("an empty all/any".into());
                }
                parts
                    .iter()
                    .try_for_each(|p| self.check_requirement(rule, p, depth + 1))?;
                if let Requirement::All(parts) = requirement {
                    // One signature must not count towards two parts of one quorum.
                    let mut seen = BTreeSet::new();
                    for part in parts {
                        let members: BTreeSet<&str> = crate::quorum::groups_named(part)
                            .into_iter()
                            .flat_map(|g| self.groups[g].iter().map(String::as_str))
                            .collect();
                        if let Some(shared) = members.iter().find(|m| seen.contains(*m)) {
                            return bad(format!("approver {shared} is in two groups of one `all`"));
                        }
                        seen.extend(members);
                    }
                }
                Ok(())
            }
        }
    }
}
