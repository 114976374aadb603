//! SQLite backend: one file, WAL, `synchronous=FULL` (a commit is on disk when it returns),
//! foreign keys on. One writer thread; readers from a pool see committed snapshots.

use std::borrow::Cow;
use std::path::PathBuf;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::ToSql;

use crate::sql::{Connection, Dialect, Sql};
use crate::value::check_params;
use crate::{Row, StoreError, Value};

/// Statements kept prepared per connection.
const STATEMENT_CACHE: usize = 256;
/// How long a statement waits for a lock before failing (another process on the file).
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// `temp_store = MEMORY`: each job of a group commit runs in a savepoint, whose journal
/// would otherwise be a temporary file written for every page the job touches (bounded
/// by the batch's pages; the database and its WAL stay on disk as before).
const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                       PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;";

pub(crate) struct SqliteConn {
    conn: rusqlite::Connection,
    /// Set when its transaction state is unknown: the connection must be replaced.
    poisoned: bool,
}

pub(crate) struct SqliteManager {
    pub path: PathBuf,
}

impl SqliteManager {
    pub fn connect(&self) -> Result<SqliteConn, StoreError> {
        let conn = rusqlite::Connection::open(&self.path)?;
        conn.execute_batch(&format!(
            "{PRAGMAS} PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};"
        ))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteConn {
            conn,
            poisoned: false,
        })
    }
}

/// `$1` → `?1`: SQLite's numbered placeholder, so each value binds by its number.
fn placeholders(sql: &str) -> Cow<'_, str> {
    if sql.contains('$') {
        Cow::Owned(sql.replace('$', "?"))
    } else {
        Cow::Borrowed(sql)
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            // `check_params` refuses it before any statement runs.
            Value::OutOfRange(_) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    "integer out of range".into(),
                ))
            }
        })
    }
}

fn read_value(column: usize, value: ValueRef<'_>) -> Result<Value, StoreError> {
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(v) => Value::Int(v),
        ValueRef::Text(v) => {
            Value::Text(
                String::from_utf8(v.to_vec()).map_err(|e| StoreError::Decode {
                    column: column.to_string(),
                    detail: e.to_string(),
                })?,
            )
        }
        ValueRef::Blob(v) => Value::Blob(v.to_vec()),
        ValueRef::Real(_) => {
            return Err(StoreError::Decode {
                column: column.to_string(),
                detail: "floating point in a money store".into(),
            })
        }
    })
}

impl Sql for SqliteConn {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        check_params(params)?;
        let mut statement = self.conn.prepare_cached(&placeholders(sql))?;
        let changed = statement.execute(rusqlite::params_from_iter(params.iter()))?;
        Ok(changed as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        check_params(params)?;
        let mut statement = self.conn.prepare_cached(&placeholders(sql))?;
        let columns = statement.column_count();
        let names: std::sync::Arc<[String]> = statement
            .column_names()
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut rows = statement.query(rusqlite::params_from_iter(params.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let values = (0..columns)
                .map(|i| read_value(i, row.get_ref(i)?))
                .collect::<Result<Vec<_>, StoreError>>()?;
            out.push(Row::new(values, std::sync::Arc::clone(&names)));
        }
        Ok(out)
    }
}

impl Connection for SqliteConn {
    fn batch(&mut self, script: &str) -> Result<(), StoreError> {
        self.conn.execute_batch(script).map_err(Into::into)
    }

    fn begin_write(&mut self) -> Result<(), StoreError> {
        self.batch("BEGIN IMMEDIATE")
    }

    fn begin_read(&mut self) -> Result<(), StoreError> {
        self.batch("BEGIN DEFERRED")
    }

    fn poison(&mut self) {
        self.poisoned = true;
    }

    fn is_broken(&self) -> bool {
        self.poisoned
    }
}
