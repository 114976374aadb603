//! Verification: recompute the chain from the first record to the head, check every
//! checkpoint's signature and that it signs the chain as it is now, and name the first
//! record where they disagree.

use std::collections::BTreeMap;

use store::Store;

use crate::chain::{read_head, record_hash, GENESIS_HASH};
use crate::checkpoint::{message, PublicKey};
use crate::record::{page, AuditFilter};
use crate::AuditError;

/// Where the chain first breaks and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// The record's fields no longer hash to its stored hash: it was modified.
    Modified { seq: i64 },
    /// The record does not follow its predecessor's hash: the one before it was altered
    /// and rehashed, or records were inserted, deleted or reordered just before it.
    Unlinked { seq: i64 },
    /// The sequence number has no record: it was deleted.
    Missing { seq: i64 },
    /// The chain ends elsewhere than the head says: records were removed at its end or
    /// added past it.
    HeadMismatch { seq: i64 },
    /// A checkpoint's signature is invalid, or the record it signed now has another hash
    /// (the chain was rewritten up to it).
    Checkpoint { seq: i64 },
}

impl Tamper {
    /// The first sequence number found bad.
    pub fn seq(&self) -> i64 {
        match *self {
            Tamper::Modified { seq }
            | Tamper::Unlinked { seq }
            | Tamper::Missing { seq }
            | Tamper::HeadMismatch { seq }
            | Tamper::Checkpoint { seq } => seq,
        }
    }
}

impl std::fmt::Display for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tamper::Modified { seq } => write!(f, "record {seq} was modified"),
            Tamper::Unlinked { seq } => write!(
                f,
                "record {seq} does not follow the record before it (altered, inserted, \
                 deleted or reordered records)"
            ),
            Tamper::Missing { seq } => write!(f, "record {seq} is missing (deleted)"),
            Tamper::HeadMismatch { seq } => {
                write!(f, "the chain does not end where its head says (at {seq})")
            }
            Tamper::Checkpoint { seq } => write!(
                f,
                "the signed checkpoint at record {seq} does not match the chain"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub records: u64,
    pub checkpoints: u64,
    pub head_seq: i64,
    /// The first break; `None` when the chain is intact.
    pub first_bad: Option<Tamper>,
}

/// Verifies the whole chain against checkpoints signed by `key`.
pub async fn verify(store: &Store, key: &PublicKey) -> Result<Verified, AuditError> {
    let key = *key;
    let (head, checkpoints) = store
        .read(move |sql| {
            let head = read_head(sql)?;
            let rows = sql.query(
                "SELECT seq, hash, at_ms, signature FROM audit_checkpoints ORDER BY seq",
                &[],
            )?;
            let mut checkpoints = BTreeMap::new();
            for row in rows {
                let seq = row.i64("seq")?;
                let hash = row.blob("hash")?.to_vec();
                let signed = key.verifies(
                    &message(seq, &hash, row.i64("at_ms")?),
                    row.blob("signature")?,
                );
                checkpoints.insert(seq, (hash, signed));
            }
            Ok::<_, AuditError>((head, checkpoints))
        })
        .await?;
    let mut verified = Verified {
        records: 0,
        checkpoints: checkpoints.len() as u64,
        head_seq: head.seq,
        first_bad: None,
    };
    let bad = |verified: Verified, tamper| {
        Ok(Verified {
            first_bad: Some(tamper),
            ..verified
        })
    };
    if let Some((&seq, _)) = checkpoints.iter().find(|(_, (_, signed))| !signed) {
        return bad(verified, Tamper::Checkpoint { seq });
    }
    let mut prev = GENESIS_HASH;
    let mut expected = 1i64;
    'pages: loop {
        let filter = AuditFilter {
            tenant_id: None,
            after_seq: expected - 1,
            limit: kernel::MAX_PAGE,
        };
        let records = store.read(move |sql| page(sql, &filter)).await?;
        if records.is_empty() {
            break;
        }
        for record in records {
            // Records appended after verification began are for the next run.
            if record.seq > head.seq {
                break 'pages;
            }
            if record.seq != expected {
                return bad(verified, Tamper::Missing { seq: expected });
            }
            if record.prev_hash != prev {
                return bad(verified, Tamper::Unlinked { seq: record.seq });
            }
            let computed = record_hash(record.seq, &prev, &record.entry());
            if computed.as_slice() != record.hash {
                return bad(verified, Tamper::Modified { seq: record.seq });
            }
            if checkpoints
                .get(&record.seq)
                .is_some_and(|(hash, _)| *hash != record.hash)
            {
                return bad(verified, Tamper::Checkpoint { seq: record.seq });
            }
            verified.records += 1;
            prev = computed;
            expected += 1;
        }
    }
    let end = expected - 1;
    if end != head.seq || prev != head.hash {
        return bad(
            verified,
            Tamper::HeadMismatch {
                seq: end.min(head.seq) + 1,
            },
        );
    }
    if let Some((&seq, _)) = checkpoints.range(end + 1..).next() {
        return bad(verified, Tamper::Checkpoint { seq });
    }
    Ok(verified)
}
