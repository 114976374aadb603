//! What can go wrong in the store, in terms a caller can act on.

/// A store failure. `Clone` because one failed commit fails every job batched into it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Cannot reach or open the database; retry later or fix the configuration.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A unique key already exists (a duplicate id, name or idempotency key).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A check, foreign-key or not-null constraint refused the write.
    #[error("constraint violated: {0}")]
    Constraint(String),
    #[error("not found")]
    NotFound,
    /// A statement's parameter (1-based) is an integer above what a column holds: the
    /// caller let an unbounded number through.
    #[error("parameter ${parameter} is out of range for a 64-bit column")]
    OutOfRange { parameter: usize },
    /// A column held something the reader did not expect (a bug or a foreign write).
    #[error("bad value in column {column}: {detail}")]
    Decode { column: String, detail: String },
    /// A landed migration was edited: its text no longer matches what the database applied.
    #[error("migration {version} ({name}) differs from the one the database applied")]
    MigrationEdited { version: i64, name: String },
    /// The database was migrated by a newer Fulgur.
    #[error("database schema is at version {found}, newer than this binary knows ({known})")]
    SchemaNewer { found: i64, known: i64 },
    /// Migrations are pending; run `fulgur migrate`.
    #[error(
        "database schema is at version {found}, this binary needs {needed}: run `fulgur migrate`"
    )]
    SchemaBehind { found: i64, needed: i64 },
    #[error("invalid store URL {0:?}: expected sqlite://PATH or postgres://...")]
    InvalidUrl(String),
    /// The write queue is full: the store is overloaded; retry with backoff.
    #[error("store overloaded: write queue full")]
    Overloaded,
    #[error("store is closed")]
    Closed,
    #[error("database error: {0}")]
    Backend(String),
}

impl StoreError {
    /// The API's problem code for a store failure: whether to retry (`overloaded`,
    /// `store_unavailable`), fix the request (`value_out_of_range`) or report a bug.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Overloaded => "overloaded",
            StoreError::Unavailable(_) => "store_unavailable",
            StoreError::OutOfRange { .. } => "value_out_of_range",
            _ => "store_error",
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi;
        match &e {
            rusqlite::Error::SqliteFailure(code, message) => {
                let detail = message.clone().unwrap_or_else(|| e.to_string());
                match code.extended_code {
                    ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                        StoreError::Conflict(detail)
                    }
                    ffi::SQLITE_CONSTRAINT_CHECK
                    | ffi::SQLITE_CONSTRAINT_FOREIGNKEY
                    | ffi::SQLITE_CONSTRAINT_NOTNULL => StoreError::Constraint(detail),
                    _ if code.code == rusqlite::ErrorCode::CannotOpen => {
                        StoreError::Unavailable(detail)
                    }
                    _ => StoreError::Backend(detail),
                }
            }
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        use postgres::error::SqlState;
        let Some(db) = e.as_db_error() else {
            return if e.is_closed() {
                StoreError::Unavailable(e.to_string())
            } else {
                StoreError::Backend(e.to_string())
            };
        };
        let detail = db.message().to_string();
        match db.code() {
            c if *c == SqlState::UNIQUE_VIOLATION => StoreError::Conflict(detail),
            c if *c == SqlState::CHECK_VIOLATION
                || *c == SqlState::FOREIGN_KEY_VIOLATION
                || *c == SqlState::NOT_NULL_VIOLATION =>
            {
                StoreError::Constraint(detail)
            }
            _ => StoreError::Backend(detail),
        }
    }
}
