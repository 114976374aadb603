//! PostgreSQL backend: the production store. Statements are prepared once per connection
//! and cached; several writer threads, each with its own connection.

use std::collections::HashMap;
use std::error::Error;

use bytes::BytesMut;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{NoTls, Statement};

use crate::pg_tls::PgTls;
use crate::sql::{Connection, Dialect, Sql};
use crate::value::check_params;
use crate::{Row, StoreError, Value};

/// Statements kept prepared per connection; the cache is cleared when it would grow past.
const STATEMENT_CACHE: usize = 256;

/// A prepared statement and its result's column names (shared by every row it returns).
type Prepared = (Statement, std::sync::Arc<[String]>);

pub(crate) struct PgConn {
    client: postgres::Client,
    statements: HashMap<String, Prepared>,
}

pub(crate) struct PgManager {
    pub config: postgres::Config,
    pub tls: PgTls,
}

impl PgManager {
    pub fn connect(&self) -> Result<PgConn, StoreError> {
        Self::connect_with(&self.config, &self.tls)
    }

    /// A connection that names itself `application_name` in `pg_stat_activity`.
    pub fn connect_as(&self, application_name: &str) -> Result<PgConn, StoreError> {
        let mut config = self.config.clone();
        config.application_name(application_name);
        Self::connect_with(&config, &self.tls)
    }

    fn connect_with(config: &postgres::Config, tls: &PgTls) -> Result<PgConn, StoreError> {
        let client = match tls {
            PgTls::Plain => config.connect(NoTls),
            PgTls::Verified(tls) => config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(
                (**tls).clone(),
            )),
        }
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(PgConn {
            client,
            statements: HashMap::new(),
        })
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => Err(format!("integer bound to a {ty} column").into()),
            },
            Value::Text(v) => v.as_str().to_sql(ty, out),
            Value::Blob(v) => v.as_slice().to_sql(ty, out),
            // `check_params` refuses it before any statement runs.
            Value::OutOfRange(_) => Err("integer out of range".into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn read_value(row: &postgres::Row, column: usize) -> Result<Value, StoreError> {
    let decode = |e: postgres::Error| StoreError::Decode {
        column: column.to_string(),
        detail: e.to_string(),
    };
    let ty = row.columns()[column].type_().clone();
    let value = match ty {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(column)
            .map_err(decode)?
            .map(Value::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(column)
            .map_err(decode)?
            .map(|v| Value::Int(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(column)
            .map_err(decode)?
            .map(|v| Value::Int(v.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(column)
            .map_err(decode)?
            .map(|v| Value::Int(v.into())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
            .try_get::<_, Option<String>>(column)
            .map_err(decode)?
            .map(Value::Text),
        Type::BYTEA => row
            .try_get::<_, Option<Vec<u8>>>(column)
            .map_err(decode)?
            .map(Value::Blob),
        other => {
            return Err(StoreError::Decode {
                column: column.to_string(),
                detail: format!("unsupported type {other} (cast aggregates to BIGINT)"),
            })
        }
    };
    Ok(value.unwrap_or(Value::Null))
}

impl PgConn {
    pub fn client(&mut self) -> &mut postgres::Client {
        &mut self.client
    }

    fn statement(&mut self, sql: &str) -> Result<Prepared, StoreError> {
        if let Some(prepared) = self.statements.get(sql) {
            return Ok(prepared.clone());
        }
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        let statement = self.client.prepare(sql)?;
        let names = statement
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let prepared = (statement, names);
        self.statements.insert(sql.to_string(), prepared.clone());
        Ok(prepared)
    }
}

fn as_params(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Sql for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        check_params(params)?;
        let (statement, _) = self.statement(sql)?;
        Ok(self.client.execute(&statement, &as_params(params))?)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        check_params(params)?;
        let (statement, names) = self.statement(sql)?;
        let rows = self.client.query(&statement, &as_params(params))?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| read_value(row, i))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|values| Row::new(values, std::sync::Arc::clone(&names)))
            })
            .collect()
    }
}

impl Connection for PgConn {
    fn batch(&mut self, script: &str) -> Result<(), StoreError> {
        self.client.batch_execute(script).map_err(Into::into)
    }

    fn begin_write(&mut self) -> Result<(), StoreError> {
        self.batch("BEGIN")
    }

    fn begin_read(&mut self) -> Result<(), StoreError> {
        self.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    }

    fn is_broken(&self) -> bool {
        self.client.is_closed()
    }
}
