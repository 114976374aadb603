//! The one interface domain code writes SQL against, whichever database is behind it.
//!
//! Statements use PostgreSQL's numbered placeholders (`$1`, `$2`, ...) and the SQL both
//! dialects share (`INSERT ... ON CONFLICT`, `RETURNING`, `LIMIT`); the SQLite backend
//! rewrites placeholders to its own `?1` form. Schema differences live in the per-dialect
//! migrations, never in queries.

use crate::{Row, StoreError, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// What a `SELECT` ends with to lock the rows it reads until the transaction ends:
    /// ` FOR UPDATE` on PostgreSQL; nothing on SQLite, whose single writer serialises
    /// every write transaction already.
    pub fn row_lock(self) -> &'static str {
        match self {
            Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        }
    }
}

/// An open transaction (the store begins and ends it; callers only run statements).
pub trait Sql {
    fn dialect(&self) -> Dialect;

    /// Runs a statement; returns the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;

    /// Runs a statement whose outcome the caller does not inspect (an audit record, an
    /// outbox event). PostgreSQL sends it with the next statement rather than waiting for
    /// it; its error, if any, is returned by that next statement or fails the job at its
    /// end. Never for a statement whose row count decides anything.
    fn execute_pipelined(&mut self, sql: &str, params: &[Value]) -> Result<(), StoreError> {
        self.execute(sql, params).map(drop)
    }

    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Exactly one row, or `NotFound`.
    fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Row, StoreError> {
        self.query_opt(sql, params)?.ok_or(StoreError::NotFound)
    }
}

/// What a backend connection does besides running statements: transaction control and
/// multi-statement scripts (migrations).
pub(crate) trait Connection: Sql + Send {
    fn batch(&mut self, script: &str) -> Result<(), StoreError>;
    /// Runs `script` before the next statement or script, in its round trip where the
    /// backend can; a failure of `script` is reported there. Only for transaction control
    /// that cannot fail unless that next request fails too.
    fn batch_ahead(&mut self, script: &str) -> Result<(), StoreError> {
        self.batch(script)
    }
    /// Commits the transaction, or fails if it cannot (then nothing of it is kept).
    fn commit(&mut self) -> Result<(), StoreError> {
        self.batch("COMMIT")
    }
    /// Sends what is queued and waits for it; the first error among it, if any.
    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Starts a read-write transaction that takes the write lock at once (so two writers
    /// never deadlock upgrading).
    fn begin_write(&mut self) -> Result<(), StoreError>;
    /// Starts a read-only transaction over one consistent snapshot.
    fn begin_read(&mut self) -> Result<(), StoreError>;
    /// Marks the connection for replacement (its transaction state is unknown).
    fn poison(&mut self);
    /// The connection is lost (or poisoned) and must be replaced.
    fn is_broken(&self) -> bool;
}

/// A connection lent to a read of one statement, outside any transaction (one statement
/// sees one snapshot on its own). A second statement, or one that is not a `SELECT`, is a
/// bug in the caller and fails.
pub(crate) struct OneStatement<'a> {
    pub conn: &'a mut dyn Connection,
    pub ran: bool,
}

impl OneStatement<'_> {
    fn admit(&mut self, sql: &str) -> Result<(), StoreError> {
        let select = sql
            .trim_start()
            .get(..6)
            .is_some_and(|word| word.eq_ignore_ascii_case("SELECT"));
        if self.ran || !select {
            return Err(StoreError::Backend(
                "a one-statement read ran a second statement or a write".into(),
            ));
        }
        self.ran = true;
        Ok(())
    }
}

impl Sql for OneStatement<'_> {
    fn dialect(&self) -> Dialect {
        self.conn.dialect()
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        self.admit(sql)?;
        self.conn.execute(sql, params)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        self.admit(sql)?;
        self.conn.query(sql, params)
    }
}
