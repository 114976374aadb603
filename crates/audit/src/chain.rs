//! The hash chain: each record's hash covers its sequence number, its predecessor's hash
//! and every field, so changing, removing, adding or reordering a record breaks the chain.

use sha2::{Digest, Sha256};
use store::{Sql, Store, StoreError};

use crate::record::Entry;
use crate::AuditError;

/// The predecessor of the first record.
pub const GENESIS_HASH: [u8; 32] = [0; 32];
const DOMAIN: &[u8] = b"fulgur-audit-record-v1";

/// The chain's end: the last sequence number and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: [u8; 32],
}

/// Appends `entry` inside the caller's transaction; returns its sequence number.
///
/// The head row is updated before anything else, which locks it until the transaction
/// ends (row lock on PostgreSQL, the write lock on SQLite): appends are serialised and the
/// chain follows commit order.
pub fn append(sql: &mut dyn Sql, entry: &Entry) -> Result<i64, StoreError> {
    let row = sql.query_one(
        "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash",
        &[],
    )?;
    let seq = row.i64("seq")?;
    let prev = hash32(row.blob("hash")?)?;
    let hash = record_hash(seq, &prev, entry);
    // Neither outcome is inspected: both go out with the transaction's next statement.
    sql.execute_pipelined(
        "INSERT INTO audit_log (seq, at_ms, actor_id, subject, tenant_id, action, target, \
         outcome, request_id, source_ip, details, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            seq.into(),
            entry.at_ms.into(),
            (&entry.origin.actor_id).into(),
            (&entry.origin.subject).into(),
            entry.tenant_id.clone().into(),
            (&entry.action).into(),
            entry.target.clone().into(),
            entry.outcome.as_str().into(),
            (&entry.origin.request_id).into(),
            entry.origin.source_ip.clone().into(),
            entry.details.clone().into(),
            prev.to_vec().into(),
            hash.to_vec().into(),
        ],
    )?;
    sql.execute_pipelined(
        "UPDATE audit_head SET hash = $1 WHERE id = 1",
        &[hash.to_vec().into()],
    )?;
    Ok(seq)
}

/// The chain's current end.
pub async fn head(store: &Store) -> Result<Head, AuditError> {
    store
        .read(|sql| read_head(sql).map_err(AuditError::from))
        .await
}

pub(crate) fn read_head(sql: &mut dyn Sql) -> Result<Head, StoreError> {
    let row = sql.query_one("SELECT seq, hash FROM audit_head WHERE id = 1", &[])?;
    Ok(Head {
        seq: row.i64("seq")?,
        hash: hash32(row.blob("hash")?)?,
    })
}

pub(crate) fn hash32(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| StoreError::Decode {
        column: "hash".into(),
        detail: format!("a hash of {} bytes", bytes.len()),
    })
}

/// SHA-256 over a length-prefixed encoding of every field (absent fields distinct from
/// empty ones), so no two different records encode alike.
pub fn record_hash(seq: i64, prev: &[u8; 32], entry: &Entry) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    hasher.update(seq.to_be_bytes());
    hasher.update(prev);
    hasher.update(entry.at_ms.to_be_bytes());
    for field in [
        Some(entry.origin.actor_id.as_str()),
        Some(entry.origin.subject.as_str()),
        entry.tenant_id.as_deref(),
        Some(entry.action.as_str()),
        entry.target.as_deref(),
        Some(entry.outcome.as_str()),
        Some(entry.origin.request_id.as_str()),
        entry.origin.source_ip.as_deref(),
        entry.details.as_deref(),
    ] {
        match field {
            None => hasher.update([0u8]),
            Some(text) => {
                hasher.update([1u8]);
                hasher.update((text.len() as u64).to_be_bytes());
                hasher.update(text.as_bytes());
            }
        }
    }
    hasher.finalize().into()
}
