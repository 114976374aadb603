//! Operations held for approval (payments and recoveries): the request recorded with them
//! (policy version, rule, requirement, EUR amount and rate, the intent approvers sign),
//! the votes cast on it, and its end (approved, rejected, expired). A request's id is its
//! payment's or recovery's; what happens to that operation is the caller's business, in
//! the same transaction.

use std::collections::BTreeSet;

use approvals::{Ballot, Intent, Policy, Requirement, Vote};
use serde::Serialize;
use store::{Row, Sql, StoreError, Value};

use crate::{ApprovalTicket, ControlsError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RequestState {
    Pending,
    Approved,
    Rejected,
    Expired,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The state named `name` (`pending`, `approved`, `rejected`, `expired`).
    pub fn from_name(name: &str) -> Option<Self> {
        name.parse().ok()
    }
}

/// One vote cast (by a person or an HSM key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CastVote {
    pub approver_id: String,
    pub vote: Vote,
    pub signature: String,
    pub credential: String,
    pub at_ms: i64,
}

/// An operation held for approval, with the votes so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalRequest {
    pub payment_id: String,
    pub tenant_id: String,
    pub policy_version: i64,
    pub rule: String,
    pub requirement: Requirement,
    pub initiator_may_approve: bool,
    pub initiator: String,
    /// Who answers for the initiating credential; empty for requests from before.
    pub initiator_person: String,
    pub eur_cents: u64,
    pub rate_eur_cents_per_btc: u64,
    pub rate_source: String,
    pub intent: Intent,
    pub state: RequestState,
    pub expires_at_ms: i64,
    pub created_at_ms: i64,
    pub decided_at_ms: Option<i64>,
    pub votes: Vec<CastVote>,
}

impl ApprovalRequest {
    /// The approvers who approved so far (people and HSM keys).
    pub fn approvers(&self) -> BTreeSet<String> {
        self.votes
            .iter()
            .filter(|v| v.vote == Vote::Approve)
            .map(|v| v.approver_id.clone())
            .collect()
    }

    /// Refuses `ballot` unless `policy` (the version that held the request) lets its
    /// approver vote on it now.
    pub fn check_ballot(
        &self,
        policy: &Policy,
        ballot: &Ballot<'_>,
        now_ms: i64,
    ) -> Result<(), ControlsError> {
        if self.state != RequestState::Pending {
            return Err(ControlsError::ApprovalClosed(self.state.as_str()));
        }
        let voted: BTreeSet<String> = self.votes.iter().map(|v| v.approver_id.clone()).collect();
        let request = approvals::Request {
            intent: &self.intent,
            requirement: &self.requirement,
            initiator_may_approve: self.initiator_may_approve,
            initiator: &self.initiator,
            initiator_person: &self.initiator_person,
            voted: &voted,
            now_ms,
        };
        approvals::check_vote(policy, &request, ballot).map_err(ControlsError::ApprovalRefused)
    }
}

const COLUMNS: &str = "payment_id, tenant_id, policy_version, rule, requirement, \
    initiator_may_approve, initiator, eur_cents, rate_eur_cents_per_btc, rate_source, intent, \
    state, expires_at_ms, created_at_ms, decided_at_ms, initiator_person";

fn json_column<T: serde::de::DeserializeOwned>(row: &Row, column: &str) -> Result<T, StoreError> {
    serde_json::from_str(row.text(column)?).map_err(|e| StoreError::Decode {
        column: column.to_string(),
        detail: e.to_string(),
    })
}

fn from_row(row: &Row) -> Result<ApprovalRequest, StoreError> {
    Ok(ApprovalRequest {
        payment_id: row.text("payment_id")?.to_string(),
        tenant_id: row.text("tenant_id")?.to_string(),
        policy_version: row.i64("policy_version")?,
        rule: row.text("rule")?.to_string(),
        requirement: json_column(row, "requirement")?,
        initiator_may_approve: row.bool("initiator_may_approve")?,
        initiator: row.text("initiator")?.to_string(),
        eur_cents: row.u64("eur_cents")?,
        rate_eur_cents_per_btc: row.u64("rate_eur_cents_per_btc")?,
        rate_source: row.text("rate_source")?.to_string(),
        intent: json_column(row, "intent")?,
        state: row.parse("state")?,
        expires_at_ms: row.i64("expires_at_ms")?,
        initiator_person: row.text("initiator_person")?.to_string(),
        created_at_ms: row.i64("created_at_ms")?,
        decided_at_ms: row.opt_i64("decided_at_ms")?,
        votes: Vec::new(),
    })
}

fn votes_of(sql: &mut dyn Sql, payment_id: &str) -> Result<Vec<CastVote>, StoreError> {
    sql.query(
        "SELECT approver_id, vote, signature, credential, at_ms FROM approval_votes \
         WHERE payment_id = $1 ORDER BY at_ms, approver_id",
        &[payment_id.into()],
    )?
    .iter()
    .map(|row| {
        Ok(CastVote {
            approver_id: row.text("approver_id")?.to_string(),
            vote: match row.text("vote")? {
                "approve" => Vote::Approve,
                _ => Vote::Reject,
            },
            signature: row.text("signature")?.to_string(),
            credential: row.text("credential")?.to_string(),
            at_ms: row.i64("at_ms")?,
        })
    })
    .collect()
}

/// The request for `payment_id` with its votes.
pub fn request(sql: &mut dyn Sql, payment_id: &str) -> Result<Option<ApprovalRequest>, StoreError> {
    let Some(row) = sql.query_opt(
        &format!("SELECT {COLUMNS} FROM approval_requests WHERE payment_id = $1"),
        &[payment_id.into()],
    )?
    else {
        return Ok(None);
    };
    let mut request = from_row(&row)?;
    request.votes = votes_of(sql, payment_id)?;
    Ok(Some(request))
}

/// The request for `payment_id` with the policy version that held it.
pub fn with_policy(
    sql: &mut dyn Sql,
    payment_id: &str,
) -> Result<Option<(ApprovalRequest, Policy)>, ControlsError> {
    let Some(request) = request(sql, payment_id)? else {
        return Ok(None);
    };
    let policy = crate::policies::version(sql, request.policy_version)?
        .ok_or(ControlsError::UnknownPolicy(request.policy_version))?
        .policy;
    Ok(Some((request, policy)))
}

/// Requests in `state`, oldest id first after `after`, of `tenant` (`None`: every
/// tenant), at most [`kernel::page_limit`] of `limit`.
pub fn list(
    sql: &mut dyn Sql,
    tenant: Option<&str>,
    state: RequestState,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<ApprovalRequest>, StoreError> {
    // '' is every tenant (no tenant id is empty).
    let ids: Vec<String> = sql
        .query(
            "SELECT payment_id FROM approval_requests WHERE state = $1 \
             AND ($2 = '' OR tenant_id = $2) AND payment_id > $3 \
             ORDER BY payment_id LIMIT $4",
            &[
                state.as_str().into(),
                tenant.unwrap_or_default().into(),
                after.unwrap_or_default().into(),
                kernel::page_limit(limit).into(),
            ],
        )?
        .iter()
        .map(|r| r.text("payment_id").map(str::to_string))
        .collect::<Result<_, _>>()?;
    let mut requests = Vec::with_capacity(ids.len());
    for id in ids {
        requests.extend(request(sql, &id)?);
    }
    Ok(requests)
}

/// Records the approval request of an operation the policy holds, in its transaction:
/// `intent` is what approvers sign (its expiry set here from the ticket).
pub fn open(
    sql: &mut dyn Sql,
    tenant_id: &str,
    (initiator, initiator_person): (&str, &str),
    mut intent: Intent,
    ticket: &ApprovalTicket,
    now: i64,
) -> Result<(), ControlsError> {
    intent.expires_at_ms = now.saturating_add(i64::from(ticket.expires_in_secs) * 1_000);
    sql.execute(
        &format!(
            "INSERT INTO approval_requests ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending', $12, $13, NULL, \
             $14)"
        ),
        &[
            intent.payment_id.as_str().into(),
            tenant_id.into(),
            Value::Int(ticket.policy_version),
            ticket.rule.as_str().into(),
            to_json(&ticket.requirement)?.into(),
            ticket.initiator_may_approve.into(),
            initiator.into(),
            ticket.eur_cents.into(),
            ticket.rate.eur_cents_per_btc.into(),
            ticket.rate.source.as_str().into(),
            to_json(&intent)?.into(),
            Value::Int(intent.expires_at_ms),
            Value::Int(now),
            initiator_person.into(),
        ],
    )?;
    Ok(())
}

/// JSON text of a value stored in a column.
fn to_json<T: Serialize>(value: &T) -> Result<String, ControlsError> {
    serde_json::to_string(value).map_err(|e| ControlsError::InvalidField {
        field: "approval",
        reason: e.to_string(),
    })
}

/// One vote to record.
pub struct VoteRecord<'a> {
    pub payment_id: &'a str,
    pub approver_id: &'a str,
    pub vote: Vote,
    pub signature: &'a str,
    /// The credential that cast it (`hsm` for the key store's own approvers).
    pub credential: &'a str,
}

/// Records a vote on a pending request. Refused if the request is decided already or the
/// approver has voted on it.
pub fn record_vote(
    sql: &mut dyn Sql,
    vote: &VoteRecord<'_>,
    now: i64,
) -> Result<(), ControlsError> {
    let open = sql.query_opt(
        "SELECT 1 FROM approval_requests WHERE payment_id = $1 AND state = 'pending'",
        &[vote.payment_id.into()],
    )?;
    if open.is_none() {
        return Err(ControlsError::ApprovalClosed("decided"));
    }
    let inserted = sql.execute(
        "INSERT INTO approval_votes (payment_id, approver_id, vote, signature, credential, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        &[
            vote.payment_id.into(),
            vote.approver_id.into(),
            vote.vote.as_str().into(),
            vote.signature.into(),
            vote.credential.into(),
            Value::Int(now),
        ],
    )?;
    if inserted == 0 {
        return Err(ControlsError::ApprovalRefused(
            approvals::ApprovalError::Duplicate(vote.approver_id.to_string()),
        ));
    }
    Ok(())
}

/// Ends the pending request `payment_id` as `to`; whether it was pending (a request is
/// decided once).
pub fn close(
    sql: &mut dyn Sql,
    payment_id: &str,
    to: RequestState,
    now: i64,
) -> Result<bool, StoreError> {
    debug_assert_ne!(to, RequestState::Pending);
    Ok(sql.execute(
        "UPDATE approval_requests SET state = $2, decided_at_ms = $3 \
         WHERE payment_id = $1 AND state = 'pending'",
        &[payment_id.into(), to.as_str().into(), Value::Int(now)],
    )? == 1)
}

/// Pending, unexpired requests with at least one approval (their HSM signatures may be
/// missing), at most `limit`.
pub fn approved_in_part(
    sql: &mut dyn Sql,
    now: i64,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    ids(
        sql,
        "SELECT r.payment_id FROM approval_requests r \
         WHERE r.state = 'pending' AND r.expires_at_ms > $1 AND EXISTS \
         (SELECT 1 FROM approval_votes v WHERE v.payment_id = r.payment_id \
          AND v.vote = 'approve') ORDER BY r.payment_id LIMIT $2",
        now,
        limit,
    )
}

/// Pending requests whose approvers ran out of time, soonest first, at most `limit`.
pub fn overdue(sql: &mut dyn Sql, now: i64, limit: i64) -> Result<Vec<String>, StoreError> {
    ids(
        sql,
        "SELECT payment_id FROM approval_requests \
         WHERE state = 'pending' AND expires_at_ms <= $1 ORDER BY expires_at_ms LIMIT $2",
        now,
        limit,
    )
}

fn ids(sql: &mut dyn Sql, query: &str, now: i64, limit: i64) -> Result<Vec<String>, StoreError> {
    sql.query(query, &[Value::Int(now), Value::Int(limit)])?
        .iter()
        .map(|r| r.text("payment_id").map(str::to_string))
        .collect()
}
