//! What a record says: who (credential and subject), from where (request id, source IP),
//! for which tenant, what action on what target, and how it ended.

pub use kernel::Origin;
use serde::Serialize;
use store::{Row, Sql, Store, StoreError};

use crate::AuditError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    Success,
    /// Refused by authentication, authorization or a limit.
    Denied,
    /// Accepted for checking but refused by the domain (bad input, insufficient funds).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub at_ms: i64,
    pub origin: Origin,
    pub tenant_id: Option<String>,
    /// What was attempted, `noun.verb`: `payment.create`, `apikey.revoke`, `auth.failure`.
    pub action: String,
    pub target: Option<String>,
    pub outcome: Outcome,
    /// A short machine detail: the problem code of a refusal, the scope that was missing.
    pub details: Option<String>,
}

/// A record as stored: its place in the chain and its hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredRecord {
    pub seq: i64,
    pub at_ms: i64,
    pub actor_id: String,
    pub subject: String,
    pub tenant_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: Outcome,
    pub request_id: String,
    pub source_ip: Option<String>,
    pub details: Option<String>,
    #[serde(serialize_with = "hex")]
    pub prev_hash: Vec<u8>,
    #[serde(serialize_with = "hex")]
    pub hash: Vec<u8>,
}

fn hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

impl StoredRecord {
    pub(crate) const COLUMNS: &'static str = "seq, at_ms, actor_id, subject, tenant_id, action, \
        target, outcome, request_id, source_ip, details, prev_hash, hash";

    pub(crate) fn from_row(row: &Row) -> Result<Self, StoreError> {
        Ok(Self {
            seq: row.i64("seq")?,
            at_ms: row.i64("at_ms")?,
            actor_id: row.text("actor_id")?.to_string(),
            subject: row.text("subject")?.to_string(),
            tenant_id: row.opt_text("tenant_id")?.map(str::to_string),
            action: row.text("action")?.to_string(),
            target: row.opt_text("target")?.map(str::to_string),
            outcome: row.parse("outcome")?,
            request_id: row.text("request_id")?.to_string(),
            source_ip: row.opt_text("source_ip")?.map(str::to_string),
            details: row.opt_text("details")?.map(str::to_string),
            prev_hash: row.blob("prev_hash")?.to_vec(),
            hash: row.blob("hash")?.to_vec(),
        })
    }

    /// The entry this record was appended from (what its hash covers, with its seq and
    /// predecessor).
    pub(crate) fn entry(&self) -> Entry {
        Entry {
            at_ms: self.at_ms,
            origin: Origin {
                actor_id: self.actor_id.clone(),
                subject: self.subject.clone(),
                request_id: self.request_id.clone(),
                source_ip: self.source_ip.clone(),
            },
            tenant_id: self.tenant_id.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            outcome: self.outcome,
            details: self.details.clone(),
        }
    }
}

/// Which records to list: one tenant's or all, after a sequence number, a bounded page.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub tenant_id: Option<String>,
    pub after_seq: i64,
    pub limit: u32,
}

/// Records in chain order, one page.
pub async fn list(store: &Store, filter: AuditFilter) -> Result<Vec<StoredRecord>, AuditError> {
    store.read(move |sql| page(sql, &filter)).await
}

pub(crate) fn page(
    sql: &mut dyn Sql,
    filter: &AuditFilter,
) -> Result<Vec<StoredRecord>, AuditError> {
    let limit = i64::from(kernel::page_limit(filter.limit));
    let rows = match &filter.tenant_id {
        Some(tenant) => sql.query(
            &format!(
                "SELECT {} FROM audit_log WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                StoredRecord::COLUMNS
            ),
            &[tenant.into(), filter.after_seq.into(), limit.into()],
        )?,
        None => sql.query(
            &format!(
                "SELECT {} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                StoredRecord::COLUMNS
            ),
            &[filter.after_seq.into(), limit.into()],
        )?,
    };
    Ok(rows
        .iter()
        .map(StoredRecord::from_row)
        .collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::Outcome;

    #[test]
    fn outcomes_round_trip() {
        for outcome in [Outcome::Success, Outcome::Denied, Outcome::Failed] {
            assert_eq!(outcome.as_str().parse().ok(), Some(outcome));
        }
        assert!("partial".parse::<Outcome>().is_err());
    }
}
