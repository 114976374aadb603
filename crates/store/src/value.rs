//! The values that cross the store boundary: integers, text, bytes and NULL — the types
//! both SQLite and PostgreSQL (as `BIGINT`, `TEXT`, `BLOB`/`BYTEA`) store exactly.

use crate::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
    /// A `u64` above `i64::MAX`: no column holds it. Binding it fails the statement with
    /// [`StoreError::OutOfRange`] (the job alone), never the store's thread.
    OutOfRange(u64),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

/// Amounts are `u64` msat in the domain and `BIGINT` here. Every amount Fulgur accepts is
/// bounded by 21 million BTC (2.1e18 msat), well inside `i64`, but a value that slipped
/// past a bound becomes [`Value::OutOfRange`] and fails its statement: a hostile number
/// must cost one request, not the writer thread.
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        i64::try_from(v).map_or(Value::OutOfRange(v), Value::Int)
    }
}

/// Refuses parameters no column can hold, before the backend sees them.
pub(crate) fn check_params(params: &[Value]) -> Result<(), StoreError> {
    match params
        .iter()
        .position(|p| matches!(p, Value::OutOfRange(_)))
    {
        Some(index) => Err(StoreError::OutOfRange {
            parameter: index + 1,
        }),
        None => Ok(()),
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// One result row, columns in `SELECT` order, each also found by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub(crate) values: Vec<Value>,
    /// The result's column names, shared by its rows.
    pub(crate) names: std::sync::Arc<[String]>,
}

/// Which column of a row: its name in the `SELECT` (`"amount_msat"`, the first of that
/// name), or its position (0-based; for unnamed expressions such as `COUNT(*)`).
pub trait Column: Copy + std::fmt::Display {
    fn position(self, names: &[String]) -> Option<usize>;
}

impl Column for usize {
    fn position(self, names: &[String]) -> Option<usize> {
        (self < names.len()).then_some(self)
    }
}

impl Column for &str {
    fn position(self, names: &[String]) -> Option<usize> {
        names.iter().position(|n| n == self)
    }
}

impl Row {
    pub(crate) fn new(values: Vec<Value>, names: std::sync::Arc<[String]>) -> Self {
        debug_assert_eq!(values.len(), names.len());
        Self { values, names }
    }

    fn get(&self, column: impl Column) -> Result<&Value, StoreError> {
        column
            .position(&self.names)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| StoreError::Decode {
                column: column.to_string(),
                detail: "no such column".into(),
            })
    }

    fn mismatch(column: impl Column, want: &str, got: &Value) -> StoreError {
        StoreError::Decode {
            column: column.to_string(),
            detail: format!("expected {want}, found {got:?}"),
        }
    }

    pub fn opt_i64(&self, column: impl Column) -> Result<Option<i64>, StoreError> {
        match self.get(column)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            other => Err(Self::mismatch(column, "integer", other)),
        }
    }

    pub fn i64(&self, column: impl Column) -> Result<i64, StoreError> {
        self.opt_i64(column)?
            .ok_or_else(|| Self::mismatch(column, "integer", &Value::Null))
    }

    /// A non-negative integer (amounts, counts).
    pub fn u64(&self, column: impl Column) -> Result<u64, StoreError> {
        let v = self.i64(column)?;
        u64::try_from(v).map_err(|_| Self::mismatch(column, "non-negative integer", &Value::Int(v)))
    }

    pub fn opt_u64(&self, column: impl Column) -> Result<Option<u64>, StoreError> {
        match self.opt_i64(column)? {
            None => Ok(None),
            Some(_) => self.u64(column).map(Some),
        }
    }

    pub fn bool(&self, column: impl Column) -> Result<bool, StoreError> {
        Ok(self.i64(column)? != 0)
    }

    pub fn opt_text(&self, column: impl Column) -> Result<Option<&str>, StoreError> {
        match self.get(column)? {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v)),
            other => Err(Self::mismatch(column, "text", other)),
        }
    }

    pub fn text(&self, column: impl Column) -> Result<&str, StoreError> {
        self.opt_text(column)?
            .ok_or_else(|| Self::mismatch(column, "text", &Value::Null))
    }

    pub fn opt_blob(&self, column: impl Column) -> Result<Option<&[u8]>, StoreError> {
        match self.get(column)? {
            Value::Null => Ok(None),
            Value::Blob(v) => Ok(Some(v)),
            other => Err(Self::mismatch(column, "bytes", other)),
        }
    }

    /// A text column read into `T` (an enum stored by its name); text `T` does not know
    /// is a decode error naming the column.
    pub fn parse<T: std::str::FromStr>(&self, column: impl Column) -> Result<T, StoreError> {
        let text = self.text(column)?;
        text.parse().map_err(|_| StoreError::Decode {
            column: column.to_string(),
            detail: format!("unknown value {text:?}"),
        })
    }

    pub fn blob(&self, column: impl Column) -> Result<&[u8], StoreError> {
        self.opt_blob(column)?
            .ok_or_else(|| Self::mismatch(column, "bytes", &Value::Null))
    }
}
