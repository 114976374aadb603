//! Versioned monitoring rule sets: a compliance officer proposes a change (a partial rule
//! set merged over the version in force, with a reason); it takes effect only when a
//! second person approves it, and only if the version it was based on is still the one
//! in force (else approving it would silently undo the change made in between). The
//! version it replaces is kept as superseded. Every step is audited in the caller's
//! transaction; every alert records the version it was raised under.

use aml::RuleSet;
use audit::AuditAction;
use kernel::{Actor, Proposer, Scope};
use serde::Serialize;
use serde_json::{Map, Value as Json};
use store::{Row, Sql, StoreError, Value};

use crate::error::invalid;
use crate::ComplianceError;

/// Versions listed at most.
const MAX_VERSIONS: i64 = 500;
/// A reason's length, in characters.
const MAX_REASON_CHARS: usize = 1_000;
/// Who proposed the first version: the configuration, at the first start.
pub const CONFIGURED_BY: &str = "config";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RuleSetState {
    Proposed,
    Active,
    Superseded,
}

impl RuleSetState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSetVersion {
    pub version: i64,
    pub rules: RuleSet,
    pub state: RuleSetState,
    /// The version in force when this one was proposed.
    pub based_on: Option<i64>,
    pub reason: String,
    pub proposed_by: String,
    pub proposed_at_ms: i64,
    pub approved_by: Option<String>,
    pub approved_at_ms: Option<i64>,
}

const COLUMNS: &str = "version, body, state, based_on, reason, proposed_by, proposed_at_ms, \
     approved_by, approved_at_ms";

fn from_row(row: &Row) -> Result<RuleSetVersion, StoreError> {
    Ok(RuleSetVersion {
        version: row.i64("version")?,
        rules: serde_json::from_str(row.text("body")?).map_err(|e| StoreError::Decode {
            column: "body".into(),
            detail: e.to_string(),
        })?,
        state: row.parse("state")?,
        based_on: row.opt_i64("based_on")?,
        reason: row.text("reason")?.to_string(),
        proposed_by: row.text("proposed_by")?.to_string(),
        proposed_at_ms: row.i64("proposed_at_ms")?,
        approved_by: row.opt_text("approved_by")?.map(str::to_string),
        approved_at_ms: row.opt_i64("approved_at_ms")?,
    })
}

/// A version by number.
pub fn version(sql: &mut dyn Sql, version: i64) -> Result<Option<RuleSetVersion>, StoreError> {
    sql.query_opt(
        &format!("SELECT {COLUMNS} FROM aml_rule_sets WHERE version = $1"),
        &[Value::Int(version)],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The number of the version in force (one indexed read: what each payment asks).
pub fn active_version(sql: &mut dyn Sql) -> Result<Option<i64>, StoreError> {
    sql.query_opt(
        "SELECT version FROM aml_rule_sets WHERE state = 'active'",
        &[],
    )?
    .map(|row| row.i64("version"))
    .transpose()
}

/// Every version, newest first (at most 500).
pub fn versions(sql: &mut dyn Sql) -> Result<Vec<RuleSetVersion>, StoreError> {
    sql.query(
        &format!("SELECT {COLUMNS} FROM aml_rule_sets ORDER BY version DESC LIMIT $1"),
        &[Value::Int(MAX_VERSIONS)],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// On a store without rule sets, `configured` becomes the first version, in force (its own
/// number, at least 1); returns whether it did. Later starts change nothing: from then on
/// rule sets change over the API, by two people.
pub fn seed(sql: &mut dyn Sql, configured: &RuleSet, now: i64) -> Result<bool, ComplianceError> {
    let any = sql.query_opt("SELECT version FROM aml_rule_sets LIMIT 1", &[])?;
    if any.is_some() {
        return Ok(false);
    }
    let mut rules = configured.clone();
    rules.version = rules.version.max(1);
    rules
        .validate()
        .map_err(|(field, reason)| invalid(field, format!("the configured rule set: {reason}")))?;
    let body = serde_json::to_string(&rules).map_err(|e| invalid("rules", e.to_string()))?;
    // Two replicas starting on a new store at once: one inserts, the other finds it.
    let inserted = sql.execute(
        "INSERT INTO aml_rule_sets (version, body, state, based_on, reason, proposed_by, \
         proposed_by_subject, proposed_by_identity, proposed_at_ms, approved_by, approved_at_ms) \
         VALUES ($1, $2, 'active', NULL, 'the configuration at the first start', $3, $3, $3, $4, $3, $4) \
         ON CONFLICT DO NOTHING",
        &[
            Value::Int(i64::from(rules.version)),
            body.into(),
            CONFIGURED_BY.into(),
            Value::Int(now),
        ],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    let system = Actor::system("start");
    let target = format!("v{}", rules.version);
    system.audit(sql, now, None, "aml_rules.seed", &target, None)?;
    Ok(true)
}

/// Locks the row of the version in force until the transaction ends: changes to the
/// rule set queue there.
fn lock_active(sql: &mut dyn Sql) -> Result<(), StoreError> {
    let lock = sql.dialect().row_lock();
    sql.query_opt(
        &format!("SELECT version FROM aml_rule_sets WHERE state = 'active'{lock}"),
        &[],
    )?;
    Ok(())
}

/// Rule sets are platform-wide: only a platform credential changes them.
fn platform_only(actor: &Actor) -> Result<(), ComplianceError> {
    match actor.scope {
        Scope::All => Ok(()),
        _ => Err(invalid("rules", "monitoring rules are platform-wide")),
    }
}

/// `active` with `changes` merged over it (a JSON object of rule parameters; a rule's
/// switch and decision as an object of their own), checked: an unknown parameter, a value
/// of the wrong kind or out of range is refused by name.
pub fn merged(active: &RuleSet, changes: &Map<String, Json>) -> Result<RuleSet, ComplianceError> {
    let Json::Object(mut body) =
        serde_json::to_value(active).map_err(|e| invalid("rules", e.to_string()))?
    else {
        return Err(invalid("rules", "the rule set is not an object"));
    };
    if changes.is_empty() {
        return Err(invalid("rules", "names no parameter to change"));
    }
    for (name, value) in changes {
        if name == "version" {
            return Err(invalid(
                "rules",
                "version is numbered by the store, not proposed",
            ));
        }
        let Some(current) = body.get_mut(name) else {
            return Err(ComplianceError::InvalidField {
                field: "rules",
                reason: format!("no rule parameter {name:?}"),
            });
        };
        match (current, value) {
            (Json::Object(params), Json::Object(patch)) => {
                for (key, value) in patch {
                    let Some(slot) = params.get_mut(key) else {
                        return Err(ComplianceError::InvalidField {
                            field: "rules",
                            reason: format!("{name} has no {key:?} (enabled, decision)"),
                        });
                    };
                    *slot = value.clone();
                }
            }
            (current, value) => *current = value.clone(),
        }
        // One parameter at a time, so a refusal names it (and no parser text leaks).
        serde_json::from_value::<RuleSet>(Json::Object(body.clone())).map_err(|_| {
            ComplianceError::InvalidField {
                field: "rules",
                reason: format!(
                    "{name}: not a value this parameter takes (see docs/compliance.md)"
                ),
            }
        })?;
    }
    let rules: RuleSet = serde_json::from_value(Json::Object(body))
        .map_err(|_| invalid("rules", "not a rule set"))?;
    rules
        .validate()
        .map_err(|(field, reason)| ComplianceError::InvalidField {
            field: "rules",
            reason: format!("{field}: {reason}"),
        })?;
    Ok(rules)
}

/// Records the version in force with `changes` merged over it as the next version,
/// proposed by `actor` with `reason`; not in force until a second person approves it.
pub fn propose(
    sql: &mut dyn Sql,
    actor: &Actor,
    changes: &Map<String, Json>,
    reason: &str,
    now: i64,
) -> Result<RuleSetVersion, ComplianceError> {
    platform_only(actor)?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(invalid(
            "reason",
            format!("1 to {MAX_REASON_CHARS} characters"),
        ));
    }
    // Proposals queue on the version in force, so two never take the same number.
    lock_active(sql)?;
    let active_number = active_version(sql)?.ok_or(ComplianceError::UnknownRuleSet(0))?;
    let active =
        version(sql, active_number)?.ok_or(ComplianceError::UnknownRuleSet(active_number))?;
    let next = sql
        .query_one(
            "SELECT CAST(COALESCE(MAX(version), 0) + 1 AS BIGINT) AS next_version FROM aml_rule_sets",
            &[],
        )?
        .i64("next_version")?;
    let mut rules = merged(&active.rules, changes)?;
    rules.version = u32::try_from(next).map_err(|_| invalid("rules", "no more versions"))?;
    let body = serde_json::to_string(&rules).map_err(|e| invalid("rules", e.to_string()))?;
    sql.execute(
        "INSERT INTO aml_rule_sets (version, body, state, based_on, reason, proposed_by, \
         proposed_by_subject, proposed_by_identity, proposed_at_ms) \
         VALUES ($1, $2, 'proposed', $3, $4, $5, $6, $7, $8)",
        &[
            Value::Int(next),
            body.into(),
            Value::Int(active_number),
            reason.into(),
            actor.origin.actor_id.as_str().into(),
            actor.origin.subject.as_str().into(),
            actor.identity.as_str().into(),
            Value::Int(now),
        ],
    )?;
    let changed: Vec<&str> = changes.keys().map(String::as_str).collect();
    let details = Some(format!(
        "based_on=v{active_number} changed={}",
        changed.join(",")
    ));
    actor.audit(
        sql,
        now,
        None,
        "aml_rules.propose",
        &format!("v{next}"),
        details,
    )?;
    version(sql, next)?.ok_or(ComplianceError::UnknownRuleSet(next))
}

/// Puts proposed version `number` in force, superseding the active one. Refused to the
/// proposer (by credential, subject or identity), and when another version came into
/// force since it was proposed.
pub fn approve(
    sql: &mut dyn Sql,
    actor: &Actor,
    number: i64,
    now: i64,
) -> Result<RuleSetVersion, ComplianceError> {
    platform_only(actor)?;
    // The version in force, locked first: two approvals of two proposals queue here, and
    // the second reads what the first left (a separate statement, a fresh snapshot).
    lock_active(sql)?;
    let row = sql
        .query_opt(
            "SELECT state, based_on, proposed_by, proposed_by_subject, proposed_by_identity \
             FROM aml_rule_sets WHERE version = $1",
            &[Value::Int(number)],
        )?
        .ok_or(ComplianceError::UnknownRuleSet(number))?;
    let state: RuleSetState = row.parse("state")?;
    if state != RuleSetState::Proposed {
        return Err(ComplianceError::RuleSetNotProposed {
            version: number,
            state: state.as_str(),
        });
    }
    let proposer = Proposer {
        credential: row.text("proposed_by")?,
        subject: row.text("proposed_by_subject")?,
        identity: row.text("proposed_by_identity")?,
    };
    if !actor.is_second_to(&proposer) {
        return Err(ComplianceError::SecondPersonRequired);
    }
    let in_force = active_version(sql)?;
    if in_force != row.opt_i64("based_on")? {
        return Err(ComplianceError::RuleSetStale {
            version: number,
            in_force: in_force.unwrap_or(0),
        });
    }
    sql.execute(
        "UPDATE aml_rule_sets SET state = 'superseded' WHERE state = 'active'",
        &[],
    )?;
    sql.execute(
        "UPDATE aml_rule_sets SET state = 'active', approved_by = $2, approved_at_ms = $3 \
         WHERE version = $1 AND state = 'proposed'",
        &[
            Value::Int(number),
            actor.origin.actor_id.as_str().into(),
            Value::Int(now),
        ],
    )?;
    actor.audit(
        sql,
        now,
        None,
        "aml_rules.approve",
        &format!("v{number}"),
        None,
    )?;
    version(sql, number)?.ok_or(ComplianceError::UnknownRuleSet(number))
}
