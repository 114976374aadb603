//! Versioned approval policies: an administrator proposes a version, and it takes effect
//! only when a second administrator (another credential, subject and identity: see
//! `Actor::identity`) approves it; the version it replaces is kept as superseded. Every
//! step is audited in the caller's transaction.

use approvals::Policy;
use audit::AuditAction;
use kernel::{Actor, Scope};
use serde::Serialize;
use store::{Row, Sql, StoreError, Value};

use crate::ControlsError;

/// Versions listed at most.
const MAX_VERSIONS: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum PolicyState {
    Proposed,
    Active,
    Superseded,
}

impl PolicyState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyVersion {
    pub version: i64,
    pub policy: Policy,
    pub state: PolicyState,
    pub proposed_by: String,
    pub proposed_at_ms: i64,
    pub approved_by: Option<String>,
    pub approved_at_ms: Option<i64>,
}

const COLUMNS: &str =
    "version, body, state, proposed_by, proposed_at_ms, approved_by, approved_at_ms";

fn from_row(row: &Row) -> Result<PolicyVersion, StoreError> {
    Ok(PolicyVersion {
        version: row.i64("version")?,
        policy: serde_json::from_str(row.text("body")?).map_err(|e| StoreError::Decode {
            column: "body".into(),
            detail: e.to_string(),
        })?,
        state: row.parse("state")?,
        proposed_by: row.text("proposed_by")?.to_string(),
        proposed_at_ms: row.i64("proposed_at_ms")?,
        approved_by: row.opt_text("approved_by")?.map(str::to_string),
        approved_at_ms: row.opt_i64("approved_at_ms")?,
    })
}

/// A version by number.
pub fn version(sql: &mut dyn Sql, version: i64) -> Result<Option<PolicyVersion>, StoreError> {
    sql.query_opt(
        &format!("SELECT {COLUMNS} FROM approval_policies WHERE version = $1"),
        &[Value::Int(version)],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The version in force, if any (one statement: fit for `Store::read_one`).
pub fn active(sql: &mut dyn Sql) -> Result<Option<PolicyVersion>, StoreError> {
    sql.query_opt(
        &format!("SELECT {COLUMNS} FROM approval_policies WHERE state = 'active'"),
        &[],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Every version, newest first (at most 500).
pub fn versions(sql: &mut dyn Sql) -> Result<Vec<PolicyVersion>, StoreError> {
    sql.query(
        &format!("SELECT {COLUMNS} FROM approval_policies ORDER BY version DESC LIMIT $1"),
        &[Value::Int(MAX_VERSIONS)],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Policies are platform-wide: only a platform credential may change them.
fn platform_only(actor: &Actor) -> Result<(), ControlsError> {
    match actor.scope {
        Scope::All => Ok(()),
        _ => Err(ControlsError::Forbidden(
            "approval policies are platform-wide: a platform administrator changes them".into(),
        )),
    }
}

/// What a proposal of `policy` would store, or why it is refused; checked before any
/// transaction is opened.
pub fn validate(actor: &Actor, policy: &Policy) -> Result<String, ControlsError> {
    platform_only(actor)?;
    let invalid = |reason: String| ControlsError::InvalidField {
        field: "policy",
        reason,
    };
    policy.validate().map_err(|e| invalid(e.to_string()))?;
    serde_json::to_string(policy).map_err(|e| invalid(e.to_string()))
}

/// Records `body` (from [`validate`]) as the next version, proposed by `actor`; it is not
/// in force until a second administrator approves it.
pub fn propose(
    sql: &mut dyn Sql,
    actor: &Actor,
    body: String,
    now: i64,
) -> Result<PolicyVersion, ControlsError> {
    platform_only(actor)?;
    let next = sql
        .query_one(
            "SELECT CAST(COALESCE(MAX(version), 0) + 1 AS BIGINT) AS next_version FROM approval_policies",
            &[],
        )?
        .i64("next_version")?;
    sql.execute(
        "INSERT INTO approval_policies (version, body, state, proposed_by, \
         proposed_by_subject, proposed_at_ms, proposed_by_identity) \
         VALUES ($1, $2, 'proposed', $3, $4, $5, $6)",
        &[
            Value::Int(next),
            body.into(),
            actor.origin.actor_id.as_str().into(),
            actor.origin.subject.as_str().into(),
            Value::Int(now),
            actor.identity.as_str().into(),
        ],
    )?;
    let target = format!("v{next}");
    actor.audit(sql, now, None, "approval_policy.propose", &target, None)?;
    version(sql, next)?.ok_or(ControlsError::UnknownPolicy(next))
}

/// Puts proposed version `number` in force, superseding the active one. Refused to the
/// proposer (by credential, subject or identity): a policy change needs a second admin.
pub fn approve(
    sql: &mut dyn Sql,
    actor: &Actor,
    number: i64,
    now: i64,
) -> Result<PolicyVersion, ControlsError> {
    platform_only(actor)?;
    let row = sql
        .query_opt(
            "SELECT state, proposed_by, proposed_by_subject, proposed_by_identity \
             FROM approval_policies WHERE version = $1",
            &[Value::Int(number)],
        )?
        .ok_or(ControlsError::UnknownPolicy(number))?;
    let state: PolicyState = row.parse("state")?;
    if state != PolicyState::Proposed {
        return Err(ControlsError::PolicyNotProposed {
            version: number,
            state: state.as_str(),
        });
    }
    let proposer = kernel::Proposer {
        credential: row.text("proposed_by")?,
        subject: row.text("proposed_by_subject")?,
        identity: row.text("proposed_by_identity")?,
    };
    if !actor.is_second_to(&proposer) {
        return Err(ControlsError::SecondAdminRequired);
    }
    sql.execute(
        "UPDATE approval_policies SET state = 'superseded' WHERE state = 'active'",
        &[],
    )?;
    sql.execute(
        "UPDATE approval_policies SET state = 'active', approved_by = $2, \
         approved_at_ms = $3 WHERE version = $1 AND state = 'proposed'",
        &[
            Value::Int(number),
            actor.origin.actor_id.as_str().into(),
            Value::Int(now),
        ],
    )?;
    let target = format!("v{number}");
    actor.audit(sql, now, None, "approval_policy.approve", &target, None)?;
    version(sql, number)?.ok_or(ControlsError::UnknownPolicy(number))
}
