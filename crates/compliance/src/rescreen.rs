//! Customers against the lists over time: a sanctions match becomes an alert about the
//! customer (rule `sanctions_match`, a review) once per (customer, list entry, entry
//! content); an officer may clear a (customer, entry) pair as a false positive with a
//! reason, which holds while the entry stays as it is and lapses when the list changes it.
//! A new list version is rescreened against every customer, but only over the entries it
//! added or changed: an unchanged entry matched before, and was alerted or cleared then.

use audit::AuditAction;
use kernel::{Actor, IdSource};
use screening::{Entry, Index, Query, QueryKind};
use sha2::{Digest, Sha256};
use store::{Sql, StoreError, Value};

use crate::alerts::{self, AlertDraft};
use crate::customers::{self, Customer};
use crate::error::invalid;
use crate::risk::CustomerKind;
use crate::{lists, ComplianceError, NameHit, INTERNAL_LIST};

/// The rule of an alert about a customer's sanctions match.
pub const SANCTIONS_MATCH: &str = "sanctions_match";
/// Customers rescreened per read (a page); the run goes through all of them.
const CUSTOMER_PAGE: u32 = 500;
/// Customers a rescreening goes through at most (bounded like everything else; a
/// deployment past it rescreens in several runs, newest customers last).
pub const MAX_RESCREENED_CUSTOMERS: usize = 1_000_000;
const MAX_REASON_CHARS: usize = 500;

/// What an entry says, hashed: a change to any of it is a change to the entry.
pub fn fingerprint(entry: &Entry) -> String {
    let mut names: Vec<String> = entry
        .names
        .iter()
        .map(|n| format!("{}:{}", n.alias, n.name))
        .collect();
    names.sort();
    let mut parts: Vec<String> = vec![entry.id.clone(), format!("{:?}", entry.kind)];
    parts.push(names.join("\u{1f}"));
    for list in [&entry.programs, &entry.countries] {
        let mut sorted = list.clone();
        sorted.sort();
        parts.push(sorted.join("\u{1f}"));
    }
    let mut years = entry.birth_years.clone();
    years.sort_unstable();
    parts.push(format!("{years:?}"));
    let mut addresses: Vec<String> = entry
        .addresses
        .iter()
        .map(|(t, a)| format!("{t}:{a}"))
        .collect();
    addresses.sort();
    parts.push(addresses.join("\u{1f}"));
    hex::encode(Sha256::digest(parts.join("\u{1e}").as_bytes()))
}

/// The fingerprint of a watchlist item: items do not change (a new value is a new item).
pub fn watch_fingerprint(item_id: &str) -> String {
    format!("watch:{item_id}")
}

/// A customer's match, with the fingerprint of the entry as matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub hit: NameHit,
    pub fingerprint: String,
}

/// How a customer is screened: its name, kind and country.
pub fn query_of(customer: &Customer) -> Query {
    Query {
        name: customer.name.clone(),
        kind: match customer.kind {
            CustomerKind::Person => QueryKind::Person,
            CustomerKind::Organization => QueryKind::Organization,
        },
        country: Some(customer.country.clone()),
        birth_year: None,
    }
}

fn cleared(sql: &mut dyn Sql, customer_id: &str, m: &Match) -> Result<bool, StoreError> {
    Ok(sql
        .query_opt(
            "SELECT 1 AS x FROM screening_clearances WHERE customer_id = $1 AND list = $2 \
             AND entry_id = $3 AND fingerprint = $4",
            &[
                customer_id.into(),
                m.hit.list.as_str().into(),
                m.hit.entry_id.as_str().into(),
                m.fingerprint.as_str().into(),
            ],
        )?
        .is_some())
}

/// Raises an alert for each match neither cleared nor alerted before (for the entry as
/// it is now); answers how many were raised. In the caller's transaction.
pub fn record_matches(
    sql: &mut dyn Sql,
    ids: &dyn IdSource,
    customer: &Customer,
    matches: &[Match],
    now_ms: i64,
) -> Result<usize, StoreError> {
    let mut raised = 0;
    for m in matches {
        if cleared(sql, &customer.id, m)? {
            continue;
        }
        let alert_id = ids.next_id("alr");
        // The key makes a second raise for the same entry content a no-op.
        let inserted = sql.execute(
            "INSERT INTO screening_matches (customer_id, list, entry_id, fingerprint, alert_id, \
             matched_at_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                customer.id.as_str().into(),
                m.hit.list.as_str().into(),
                m.hit.entry_id.as_str().into(),
                m.fingerprint.as_str().into(),
                alert_id.as_str().into(),
                now_ms.into(),
            ],
        )?;
        if inserted == 0 {
            continue;
        }
        let version = m
            .hit
            .list_version
            .map_or_else(String::new, |v| format!(" version {v}"));
        let draft = AlertDraft {
            tenant_id: customer.tenant_id.clone(),
            account_id: String::new(),
            customer_id: Some(customer.id.clone()),
            direction: None,
            rule: SANCTIONS_MATCH.to_string(),
            rule_version: 1,
            decision: aml::Decision::Review,
            score: m.hit.score,
            evidence: format!(
                "{}{version} entry {}: {:?} matched {:?} at {:.3} ({})",
                m.hit.list,
                m.hit.entry_id,
                customer.name,
                m.hit.matched_name,
                m.hit.score,
                m.hit.explanation
            ),
            eur_cents: 0,
            eur_rate: String::new(),
        };
        alerts::insert(sql, &alert_id, &draft, None, None, now_ms)?;
        raised += 1;
    }
    Ok(raised)
}

/// The entries of `new` that `old` (the list's previous version) does not have as they
/// are: added or changed.
pub fn changed_entries(old: &[Entry], new: Vec<Entry>) -> Vec<Entry> {
    let before: std::collections::HashSet<String> = old.iter().map(fingerprint).collect();
    new.into_iter()
        .filter(|e| !before.contains(&fingerprint(e)))
        .collect()
}

/// The oldest list version not rescreened yet, with its files and those of the last
/// version of its list that was (with that version's own format).
pub struct PendingVersion {
    pub version: lists::ListVersion,
    pub files: Vec<lists::ListFile>,
    pub previous: Option<(String, Vec<lists::ListFile>)>,
    /// A newer version of its list exists: nothing to screen (it is not in force; the
    /// newer one is compared against what was last rescreened).
    pub superseded: bool,
}

pub fn pending_version(sql: &mut dyn Sql) -> Result<Option<PendingVersion>, StoreError> {
    let Some(row) = sql.query_opt(
        "SELECT version, list FROM screening_lists WHERE rescreened_at_ms IS NULL \
         ORDER BY version LIMIT 1",
        &[],
    )?
    else {
        return Ok(None);
    };
    let (number, list) = (row.i64("version")?, row.text("list")?.to_string());
    let Some(version) = lists::versions(sql, u32::MAX)?
        .into_iter()
        .find(|v| v.version == number)
    else {
        return Ok(None);
    };
    let superseded = sql
        .query_opt(
            "SELECT version FROM screening_lists WHERE list = $1 AND version > $2 LIMIT 1",
            &[list.as_str().into(), number.into()],
        )?
        .is_some();
    if superseded {
        return Ok(Some(PendingVersion {
            version,
            files: Vec::new(),
            previous: None,
            superseded,
        }));
    }
    let previous = sql.query_opt(
        "SELECT version, format FROM screening_lists WHERE list = $1 AND version < $2 \
         AND rescreened_at_ms >= 0 ORDER BY version DESC LIMIT 1",
        &[list.as_str().into(), number.into()],
    )?;
    let previous = match previous {
        Some(row) => {
            let format = row.text("format")?.to_string();
            Some((format, lists::files(sql, row.i64("version")?)?))
        }
        None => None,
    };
    Ok(Some(PendingVersion {
        files: lists::files(sql, number)?,
        previous,
        version,
        superseded,
    }))
}

/// Customers, a page after `after` (by id).
pub fn customer_page(sql: &mut dyn Sql, after: &str) -> Result<Vec<Customer>, StoreError> {
    customers::list(sql, None, after, CUSTOMER_PAGE)
}

/// Marks a superseded version passed over (`rescreened_at_ms` −1: never compared against).
pub fn pass_over(sql: &mut dyn Sql, version: i64) -> Result<(), StoreError> {
    sql.execute(
        "UPDATE screening_lists SET rescreened_at_ms = -1 WHERE version = $1 \
         AND rescreened_at_ms IS NULL",
        &[version.into()],
    )?;
    Ok(())
}

/// Claims the version's rescreening (once across replicas): false if another did it.
pub fn claim(sql: &mut dyn Sql, version: i64, now_ms: i64) -> Result<bool, StoreError> {
    Ok(sql.execute(
        "UPDATE screening_lists SET rescreened_at_ms = $2 WHERE version = $1 \
         AND rescreened_at_ms IS NULL",
        &[version.into(), now_ms.into()],
    )? == 1)
}

/// Screens `customers` against `index` (the changed entries of `list` version `version`).
pub fn screen_customers(
    index: &Index,
    list: &str,
    version: Option<i64>,
    customers: &[Customer],
    threshold: f64,
) -> Vec<(usize, Vec<Match>)> {
    customers
        .iter()
        .enumerate()
        .filter_map(|(at, customer)| {
            let matches: Vec<Match> = index
                .screen(&query_of(customer), threshold)
                .into_iter()
                .map(|h| {
                    let fingerprint = fingerprint(&index.entries()[h.entry]);
                    Match {
                        hit: NameHit::new(list, version, h),
                        fingerprint,
                    }
                })
                .collect();
            (!matches.is_empty()).then_some((at, matches))
        })
        .collect()
}

/// An officer's clearance of a (customer, list entry) pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Clearance {
    pub customer_id: String,
    pub list: String,
    pub entry_id: String,
    /// The entry as it was cleared; a different entry now means the clearance lapsed.
    pub fingerprint: String,
    pub reason: String,
    pub cleared_by: String,
    pub cleared_at_ms: i64,
}

/// Clears the pair for the entry as it is (`fingerprint`; empty: the list in force has no
/// such entry, refused after the customer is found), replacing an earlier clearance;
/// audited without a tenant.
pub fn clear(
    sql: &mut dyn Sql,
    actor: &Actor,
    clearance: &Clearance,
) -> Result<(), ComplianceError> {
    customers::get(sql, &clearance.customer_id)?.ok_or(ComplianceError::UnknownCustomer)?;
    if clearance.fingerprint.is_empty() {
        return Err(invalid(
            "entry_id",
            "an entry of a list in force (or a watchlist item)",
        ));
    }
    let reason = clearance.reason.trim();
    if reason.is_empty()
        || reason.chars().count() > MAX_REASON_CHARS
        || reason.chars().any(char::is_control)
    {
        return Err(invalid(
            "reason",
            format!("1 to {MAX_REASON_CHARS} characters, no control characters"),
        ));
    }
    let params: [Value; 7] = [
        clearance.customer_id.as_str().into(),
        clearance.list.as_str().into(),
        clearance.entry_id.as_str().into(),
        clearance.fingerprint.as_str().into(),
        reason.into(),
        actor.origin.actor_id.as_str().into(),
        clearance.cleared_at_ms.into(),
    ];
    sql.execute(
        "INSERT INTO screening_clearances (customer_id, list, entry_id, fingerprint, reason, \
         cleared_by, cleared_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (customer_id, list, entry_id) DO UPDATE SET fingerprint = $4, \
         reason = $5, cleared_by = $6, cleared_at_ms = $7",
        &params,
    )?;
    actor.audit(
        sql,
        clearance.cleared_at_ms,
        None,
        "screening.clear",
        &format!("customer:{}", clearance.customer_id),
        Some(format!(
            "{} entry {}: {reason}",
            clearance.list, clearance.entry_id
        )),
    )?;
    Ok(())
}

/// A customer's clearances, by list and entry.
pub fn clearances(sql: &mut dyn Sql, customer_id: &str) -> Result<Vec<Clearance>, StoreError> {
    sql.query(
        "SELECT customer_id, list, entry_id, fingerprint, reason, cleared_by, cleared_at_ms \
         FROM screening_clearances WHERE customer_id = $1 ORDER BY list, entry_id",
        &[customer_id.into()],
    )?
    .iter()
    .map(|r| {
        Ok(Clearance {
            customer_id: r.text("customer_id")?.to_string(),
            list: r.text("list")?.to_string(),
            entry_id: r.text("entry_id")?.to_string(),
            fingerprint: r.text("fingerprint")?.to_string(),
            reason: r.text("reason")?.to_string(),
            cleared_by: r.text("cleared_by")?.to_string(),
            cleared_at_ms: r.i64("cleared_at_ms")?,
        })
    })
    .collect()
}

/// The rule of an alert about a customer's periodic review past due.
pub const REVIEW_OVERDUE: &str = "review_overdue";
/// Review alerts raised per run at most (the job runs again in seconds).
pub const MAX_REVIEW_ALERTS: u32 = 1_000;

/// Raises a `review_overdue` alert for each customer past its review date that has none
/// since that date (not for a relationship that ended). In the caller's transaction.
pub fn raise_due_reviews(
    sql: &mut dyn Sql,
    ids: &dyn IdSource,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let unalerted = format!(
        "c.next_review_at_ms < $1 AND c.relationship_ended_at_ms IS NULL \
         AND NOT EXISTS (SELECT 1 FROM aml_alerts a \
         WHERE a.customer_id = c.id AND a.rule = '{REVIEW_OVERDUE}' \
         AND a.created_at_ms >= c.next_review_at_ms)"
    );
    let due = sql.query(
        &format!(
            "SELECT id FROM customers c WHERE {unalerted} ORDER BY c.next_review_at_ms, c.id \
             LIMIT $2"
        ),
        &[now_ms.into(), MAX_REVIEW_ALERTS.into()],
    )?;
    let mut raised = 0;
    for row in due {
        let id = row.text("id")?.to_string();
        // Locked, then asked again in a statement of its own (a fresh snapshot: a
        // subquery in the locking statement would keep the old one). A row another
        // transaction holds (a payment, or another replica raising this alert) is skipped
        // rather than waited for, so this job never joins a lock cycle; the next run
        // takes it.
        if sql.dialect() == store::Dialect::Postgres {
            let locked = sql.query_opt(
                "SELECT id FROM customers WHERE id = $1 FOR UPDATE SKIP LOCKED",
                &[id.as_str().into()],
            )?;
            if locked.is_none() {
                continue;
            }
        }
        let still_due = sql.query_opt(
            &format!("SELECT id FROM customers c WHERE c.id = $2 AND {unalerted}"),
            &[now_ms.into(), id.as_str().into()],
        )?;
        if still_due.is_none() {
            continue;
        }
        let Some(customer) = customers::get(sql, &id)? else {
            continue;
        };
        let draft = AlertDraft {
            tenant_id: customer.tenant_id.clone(),
            account_id: String::new(),
            customer_id: Some(customer.id.clone()),
            direction: None,
            rule: REVIEW_OVERDUE.to_string(),
            rule_version: 1,
            decision: aml::Decision::Review,
            score: 1.0,
            evidence: format!(
                "{} review due at {} ({} risk) not done",
                customer.review_frequency.as_str(),
                kernel::rfc3339(customer.next_review_at_ms),
                customer.risk_level.as_str()
            ),
            eur_cents: 0,
            eur_rate: String::new(),
        };
        alerts::insert(sql, &ids.next_id("alr"), &draft, None, None, now_ms)?;
        raised += 1;
    }
    Ok(raised)
}

/// Whether `list` is the watchlist (its entries are items; see [`watch_fingerprint`]).
pub fn is_watchlist(list: &str) -> bool {
    list == INTERNAL_LIST
}
