//! Journal entries: balanced sets of postings, applied to account balances atomically.

use store::{Sql, Value};

use crate::accounts::get_account;
use crate::LedgerError;

/// One line of an entry: `amount_msat` added to (positive) or taken from (negative) an
/// account's balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub account_id: String,
    /// What the line is, for statements: `payment`, `fee`, `invoice`, `internal`, ...
    pub kind: String,
    pub amount_msat: i64,
}

impl Posting {
    pub fn new(account_id: &str, kind: &str, amount_msat: i64) -> Self {
        Self {
            account_id: account_id.to_string(),
            kind: kind.to_string(),
            amount_msat,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub id: String,
    pub kind: String,
    /// The payment, invoice or other object this entry belongs to.
    pub reference: Option<String>,
    pub postings: Vec<Posting>,
}

impl JournalEntry {
    fn validate(&self) -> Result<(), LedgerError> {
        if self.postings.is_empty() || self.postings.iter().any(|p| p.amount_msat == 0) {
            return Err(LedgerError::EmptyPosting);
        }
        for p in &self.postings {
            crate::error::check_amount(p.amount_msat.unsigned_abs())?;
        }
        let sum_msat: i128 = self
            .postings
            .iter()
            .map(|p| i128::from(p.amount_msat))
            .sum();
        if sum_msat != 0 {
            return Err(LedgerError::Unbalanced { sum_msat });
        }
        Ok(())
    }
}

/// Records `entry` and applies its postings. Refuses an unbalanced entry, an unknown
/// account, and a debit beyond an account's available balance (unless it may go
/// negative); on refusal the caller's transaction must not commit.
pub fn post(sql: &mut dyn Sql, entry: &JournalEntry, now_ms: i64) -> Result<(), LedgerError> {
    entry.validate()?;
    let inserted = sql.execute(
        "INSERT INTO journal (id, kind, reference, created_at_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO NOTHING",
        &[
            entry.id.as_str().into(),
            entry.kind.as_str().into(),
            entry.reference.as_deref().into(),
            Value::Int(now_ms),
        ],
    )?;
    if inserted == 0 {
        return Err(LedgerError::DuplicateId(format!(
            "journal entry {}",
            entry.id
        )));
    }
    // One lock order for every entry, so two entries never deadlock on PostgreSQL.
    let mut postings: Vec<&Posting> = entry.postings.iter().collect();
    postings.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    for posting in postings {
        let balance_after = sql.query_opt(
            "UPDATE accounts SET balance_msat = balance_msat + $1 \
             WHERE id = $2 AND (allow_negative <> 0 OR balance_msat - pending_msat + $1 >= 0) \
             RETURNING balance_msat",
            &[
                Value::Int(posting.amount_msat),
                posting.account_id.as_str().into(),
            ],
        )?;
        let Some(balance_after) = balance_after else {
            let account = get_account(sql, &posting.account_id)?;
            return Err(LedgerError::InsufficientFunds {
                account: account.id.clone(),
                available_msat: account.available_msat(),
                needed_msat: posting.amount_msat.unsigned_abs(),
            });
        };
        // Nothing reads its outcome: it goes out with the next statement.
        sql.execute_pipelined(
            "INSERT INTO postings (journal_id, account_id, kind, amount_msat, balance_after_msat, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                entry.id.as_str().into(),
                posting.account_id.as_str().into(),
                posting.kind.as_str().into(),
                Value::Int(posting.amount_msat),
                Value::Int(balance_after.i64("balance_msat")?),
                Value::Int(now_ms),
            ],
        )?;
    }
    Ok(())
}

/// A posting as an account statement shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Increasing across the whole ledger: the pagination cursor.
    pub seq: i64,
    pub journal_id: String,
    pub journal_kind: String,
    pub reference: Option<String>,
    pub kind: String,
    pub amount_msat: i64,
    pub balance_after_msat: i64,
    pub created_at_ms: i64,
}

/// An account's postings in order, `limit` at a time after sequence `after_seq`.
pub fn entries(
    sql: &mut dyn Sql,
    account_id: &str,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<Entry>, LedgerError> {
    get_account(sql, account_id)?;
    let rows = sql.query(
        "SELECT p.seq, p.journal_id, j.kind AS journal_kind, j.reference, p.kind, p.amount_msat, \
                p.balance_after_msat, p.created_at_ms \
         FROM postings p JOIN journal j ON j.id = p.journal_id \
         WHERE p.account_id = $1 AND p.seq > $2 ORDER BY p.seq LIMIT $3",
        &[account_id.into(), Value::Int(after_seq), limit.into()],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(Entry {
            seq: row.i64("seq")?,
            journal_id: row.text("journal_id")?.to_string(),
            journal_kind: row.text("journal_kind")?.to_string(),
            reference: row.opt_text("reference")?.map(str::to_string),
            kind: row.text("kind")?.to_string(),
            amount_msat: row.i64("amount_msat")?,
            balance_after_msat: row.i64("balance_after_msat")?,
            created_at_ms: row.i64("created_at_ms")?,
        });
    }
    Ok(out)
}
