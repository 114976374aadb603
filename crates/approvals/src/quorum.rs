//! Counting signatures against a rule's requirement, and deciding whether a vote counts.

use std::collections::BTreeSet;

use crate::{ApprovalError, Intent, Policy, Requirement, Vote};

/// Whether the approvers in `signed` meet `requirement`. A signer counts in every group
/// they belong to; groups combined with `all` are disjoint (validated), so no signature
/// counts twice towards one quorum.
pub fn is_met(policy: &Policy, requirement: &Requirement, signed: &BTreeSet<String>) -> bool {
    match requirement {
        Requirement::Group { group, count } => {
            let members = policy.groups.get(group).map_or(&[][..], Vec::as_slice);
            let have = members.iter().filter(|m| signed.contains(*m)).count();
            have >= *count as usize
        }
        Requirement::All(parts) => parts.iter().all(|p| is_met(policy, p, signed)),
        Requirement::Any(parts) => parts.iter().any(|p| is_met(policy, p, signed)),
    }
}

/// Every group a requirement names.
pub fn groups_named(requirement: &Requirement) -> BTreeSet<&str> {
    match requirement {
        Requirement::Group { group, .. } => BTreeSet::from([group.as_str()]),
        Requirement::All(parts) | Requirement::Any(parts) => {
            parts.iter().flat_map(groups_named).collect()
        }
    }
}

/// The HSM approvers that sign now: none until the human signatures in `signed` would
/// meet the requirement with every HSM approver of its groups; then those not signed yet.
pub fn hsm_signers_due<'p>(
    policy: &'p Policy,
    requirement: &Requirement,
    signed: &BTreeSet<String>,
) -> Vec<&'p str> {
    let groups = groups_named(requirement);
    let hsm: Vec<&str> = policy
        .approvers
        .iter()
        .filter(|a| a.is_hsm())
        .filter(|a| policy.groups_of(&a.id).iter().any(|g| groups.contains(g)))
        .map(|a| a.id.as_str())
        .collect();
    let humans: BTreeSet<String> = signed
        .iter()
        .filter(|id| !hsm.contains(&id.as_str()))
        .cloned()
        .collect();
    let with_hsm: BTreeSet<String> = humans
        .iter()
        .cloned()
        .chain(hsm.iter().map(|id| id.to_string()))
        .collect();
    if !is_met(policy, requirement, &with_hsm) {
        return Vec::new();
    }
    hsm.into_iter().filter(|id| !signed.contains(*id)).collect()
}

/// A person's vote to check before it counts.
pub struct Ballot<'a> {
    pub approver_id: &'a str,
    pub vote: Vote,
    pub signature_hex: &'a str,
    /// The credential that made the request carrying the vote.
    pub caller_identity: &'a str,
    /// Who answers for that credential (see `kernel::Actor::identity`).
    pub caller_person: &'a str,
}

/// What a vote is checked against: the payment's intent and initiator, the rule's
/// requirement, and who has already voted.
pub struct Request<'a> {
    pub intent: &'a Intent,
    pub requirement: &'a Requirement,
    pub initiator_may_approve: bool,
    pub initiator: &'a str,
    /// Who answers for the initiating credential; empty for requests recorded before
    /// identities were (then only the credential is compared).
    pub initiator_person: &'a str,
    pub voted: &'a BTreeSet<String>,
    pub now_ms: i64,
}

/// Checks a person's vote: a known human approver, signing in as themselves, in a group
/// the rule asks for, not the initiator unless the rule allows it, not twice, before the
/// intent expires, with a signature over the canonical intent and vote.
pub fn check_vote(
    policy: &Policy,
    request: &Request<'_>,
    ballot: &Ballot<'_>,
) -> Result<(), ApprovalError> {
    let id = ballot.approver_id;
    let approver = policy
        .approver(id)
        .ok_or_else(|| ApprovalError::UnknownApprover(id.to_string()))?;
    if approver.is_hsm() {
        return Err(ApprovalError::HsmSignsItself(id.to_string()));
    }
    // A vote is cast by the approver's own credential, never on their behalf.
    if approver.identity.as_deref() != Some(ballot.caller_identity) {
        return Err(ApprovalError::UnknownApprover(format!(
            "{id} (not the signed-in credential)"
        )));
    }
    let wanted = groups_named(request.requirement);
    if !policy.groups_of(id).iter().any(|g| wanted.contains(g)) {
        return Err(ApprovalError::NotInGroup(id.to_string()));
    }
    // The initiator by credential, or by person: a second key of the initiator's (one it
    // minted) is still the initiator.
    let initiator_votes = request.initiator == ballot.caller_identity
        || (!request.initiator_person.is_empty()
            && request.initiator_person == ballot.caller_person);
    if !request.initiator_may_approve && initiator_votes {
        return Err(ApprovalError::InitiatorMayNotApprove(id.to_string()));
    }
    if request.voted.contains(id) {
        return Err(ApprovalError::Duplicate(id.to_string()));
    }
    if request.now_ms >= request.intent.expires_at_ms {
        return Err(ApprovalError::Expired {
            expires_at_ms: request.intent.expires_at_ms,
            now_ms: request.now_ms,
        });
    }
    if !approver
        .key
        .verifies(&request.intent.canonical(ballot.vote), ballot.signature_hex)
    {
        return Err(ApprovalError::BadSignature(id.to_string()));
    }
    Ok(())
}
