//! The books check (`fulgur ledger check`): every entry balances, every balance is the sum
//! of its postings, every pending amount the sum of its active holds, nothing negative
//! that may not be, and the whole ledger sums to zero.

use store::Sql;

use crate::LedgerError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BooksReport {
    pub journal_entries: u64,
    pub postings: u64,
    /// Entries whose postings do not sum to zero: (journal id, sum).
    pub unbalanced_entries: Vec<(String, i64)>,
    /// Accounts whose stored balance differs from their postings: (id, stored, summed).
    pub balance_mismatches: Vec<(String, i64, i64)>,
    /// Accounts whose pending amount differs from their active holds: (id, stored, summed).
    pub pending_mismatches: Vec<(String, i64, i64)>,
    /// Accounts below zero available that may not be: (id, available).
    pub negative_accounts: Vec<(String, i64)>,
    /// Sum of every account's balance: zero in a double-entry ledger.
    pub total_msat: i64,
}

impl BooksReport {
    pub fn is_balanced(&self) -> bool {
        self.unbalanced_entries.is_empty()
            && self.balance_mismatches.is_empty()
            && self.pending_mismatches.is_empty()
            && self.negative_accounts.is_empty()
            && self.total_msat == 0
    }
}

fn pairs(
    sql: &mut dyn Sql,
    query: &str,
    (key, value): (&str, &str),
) -> Result<Vec<(String, i64)>, LedgerError> {
    let rows = sql.query(query, &[])?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push((row.text(key)?.to_string(), row.i64(value)?));
    }
    Ok(out)
}

fn triples(
    sql: &mut dyn Sql,
    query: &str,
    (key, stored, summed): (&str, &str, &str),
) -> Result<Vec<(String, i64, i64)>, LedgerError> {
    let rows = sql.query(query, &[])?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push((
            row.text(key)?.to_string(),
            row.i64(stored)?,
            row.i64(summed)?,
        ));
    }
    Ok(out)
}

/// Checks the books inside one read transaction (a consistent snapshot).
pub fn check_books(sql: &mut dyn Sql) -> Result<BooksReport, LedgerError> {
    // Aggregates are cast to BIGINT: PostgreSQL sums BIGINT into NUMERIC.
    let counts = sql.query_one(
        "SELECT (SELECT COUNT(*) FROM journal) AS journal_entries, \
                (SELECT COUNT(*) FROM postings) AS postings, \
                CAST(COALESCE((SELECT SUM(balance_msat) FROM accounts), 0) AS BIGINT) AS total_msat",
        &[],
    )?;
    Ok(BooksReport {
        journal_entries: counts.u64("journal_entries")?,
        postings: counts.u64("postings")?,
        total_msat: counts.i64("total_msat")?,
        unbalanced_entries: pairs(
            sql,
            "SELECT journal_id, CAST(SUM(amount_msat) AS BIGINT) AS sum_msat FROM postings \
             GROUP BY journal_id HAVING SUM(amount_msat) <> 0 ORDER BY journal_id",
            ("journal_id", "sum_msat"),
        )?,
        balance_mismatches: triples(
            sql,
            "SELECT a.id, a.balance_msat, \
             CAST(COALESCE(SUM(p.amount_msat), 0) AS BIGINT) AS summed_msat \
             FROM accounts a LEFT JOIN postings p ON p.account_id = a.id \
             GROUP BY a.id, a.balance_msat \
             HAVING a.balance_msat <> COALESCE(SUM(p.amount_msat), 0) ORDER BY a.id",
            ("id", "balance_msat", "summed_msat"),
        )?,
        pending_mismatches: triples(
            sql,
            "SELECT a.id, a.pending_msat, \
             CAST(COALESCE(SUM(h.amount_msat), 0) AS BIGINT) AS summed_msat \
             FROM accounts a LEFT JOIN holds h ON h.account_id = a.id AND h.state = 'active' \
             GROUP BY a.id, a.pending_msat \
             HAVING a.pending_msat <> COALESCE(SUM(h.amount_msat), 0) ORDER BY a.id",
            ("id", "pending_msat", "summed_msat"),
        )?,
        negative_accounts: pairs(
            sql,
            "SELECT id, balance_msat - pending_msat AS available_msat FROM accounts \
             WHERE allow_negative = 0 AND balance_msat - pending_msat < 0 ORDER BY id",
            ("id", "available_msat"),
        )?,
    })
}
