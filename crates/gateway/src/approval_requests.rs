//! Payments and recoveries held for approval: the request recorded with them (policy
//! version, rule, requirement, EUR amount and rate, the intent approvers sign), and listing
//! them. A request's id is its payment's or recovery's.

use approvals::{Intent, Requirement};
use serde::Serialize;
use store::{Row, Sql, StoreError, Value};

use crate::approval_stage::ApprovalTicket;
use crate::{Gateway, GatewayError, Scope};

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
    pub vote: approvals::Vote,
    pub signature: String,
    pub credential: String,
    pub at_ms: i64,
}

/// A payment held for approval, with the votes so far.
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
            approver_id: row.text(0)?.to_string(),
            vote: match row.text(1)? {
                "approve" => approvals::Vote::Approve,
                _ => approvals::Vote::Reject,
            },
            signature: row.text(2)?.to_string(),
            credential: row.text(3)?.to_string(),
            at_ms: row.i64(4)?,
        })
    })
    .collect()
}

/// The request for `payment_id` with its votes, in the caller's transaction.
pub(crate) fn request_in(
    sql: &mut dyn Sql,
    payment_id: &str,
) -> Result<Option<ApprovalRequest>, StoreError> {
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

/// Records the approval request of a payment or recovery the policy holds, in its
/// transaction: `intent` is what approvers sign (its expiry set here from the ticket).
pub(crate) fn open_request(
    sql: &mut dyn Sql,
    tenant_id: &str,
    (initiator, initiator_person): (&str, &str),
    mut intent: Intent,
    ticket: &ApprovalTicket,
    now: i64,
) -> Result<(), GatewayError> {
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
fn to_json<T: Serialize>(value: &T) -> Result<String, GatewayError> {
    serde_json::to_string(value).map_err(|e| GatewayError::InvalidField {
        field: "approval",
        reason: e.to_string(),
    })
}

impl Gateway {
    /// A payment's approval request, if the policy held it.
    pub async fn approval(
        &self,
        scope: &Scope,
        payment_id: &str,
    ) -> Result<ApprovalRequest, GatewayError> {
        let id = payment_id.to_string();
        let found = self
            .inner
            .store
            .read(move |sql| request_in(sql, &id))
            .await?;
        found
            .filter(|r| scope.allows(&r.tenant_id))
            .ok_or_else(|| GatewayError::UnknownPayment(payment_id.to_string()))
    }

    /// Requests in `state` the scope may see, oldest first, after `after` (a payment id).
    pub async fn approvals(
        &self,
        scope: &Scope,
        state: RequestState,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, GatewayError> {
        // '' is every tenant (no tenant id is empty).
        let tenant = match scope {
            Scope::All => String::new(),
            Scope::Tenant(t) => t.clone(),
        };
        let limit = kernel::page_limit(limit);
        self.inner
            .store
            .read(move |sql| {
                let ids: Vec<String> = sql
                    .query(
                        "SELECT payment_id FROM approval_requests WHERE state = $1 \
                         AND ($2 = '' OR tenant_id = $2) AND payment_id > $3 \
                         ORDER BY payment_id LIMIT $4",
                        &[
                            state.as_str().into(),
                            tenant.into(),
                            after.unwrap_or_default().into(),
                            limit.into(),
                        ],
                    )?
                    .iter()
                    .map(|r| r.text(0).map(str::to_string))
                    .collect::<Result<_, _>>()?;
                let mut requests = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(request) = request_in(sql, &id)? {
                        requests.push(request);
                    }
                }
                Ok::<_, GatewayError>(requests)
            })
            .await
    }
}
