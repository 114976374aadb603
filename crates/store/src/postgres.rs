//! PostgreSQL backend: the production store. Each store thread owns one connection and a
//! single-threaded runtime to drive it (tokio-postgres; the `postgres` crate's blocking
//! client cannot send two requests before reading the first answer). Statements are
//! prepared once per connection and cached.
//!
//! Round trips are what a statement costs here, so transaction control rides along with
//! the statement after it: a read's `BEGIN` and a job's `SAVEPOINT` are sent in the same
//! write as the first statement (pipelined) and answered with it. That is safe because
//! each can only fail when the statement after it fails too (a lost connection, or a
//! transaction already aborted), and its error is returned in the statement's place. A
//! write batch's `BEGIN` is never sent ahead: if it failed, the statements behind it would
//! commit one by one.

use std::collections::HashMap;
use std::error::Error;

use bytes::BytesMut;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

use crate::pg_tls::PgTls;
use crate::sql::{Connection, Dialect, Sql};
use crate::value::check_params;
use crate::{Row, StoreError, Value};

/// Statements kept prepared per connection; the cache is cleared when it would grow past.
const STATEMENT_CACHE: usize = 256;

/// A prepared statement and its result's column names (shared by every row it returns).
type Prepared = (Statement, std::sync::Arc<[String]>);

pub(crate) struct PgConn {
    runtime: tokio::runtime::Runtime,
    client: Client,
    statements: HashMap<String, Prepared>,
    /// Transaction control to send ahead of the next request, in its round trip.
    ahead: Option<String>,
    /// Set when the connection's transaction state is unknown: it must be replaced.
    poisoned: bool,
}

pub(crate) struct PgManager {
    pub config: tokio_postgres::Config,
    pub tls: PgTls,
}

impl PgManager {
    pub fn connect(&self) -> Result<PgConn, StoreError> {
        let unavailable = |e: &dyn std::fmt::Display| StoreError::Unavailable(e.to_string());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| unavailable(&e))?;
        let client = runtime.block_on(async {
            // The connection task runs whenever this thread's runtime is driven, that is
            // while a statement waits for its answer.
            match &self.tls {
                PgTls::Plain => {
                    let (client, connection) = self.config.connect(NoTls).await?;
                    tokio::spawn(connection);
                    Ok::<_, tokio_postgres::Error>(client)
                }
                PgTls::Verified(tls) => {
                    let tls = tokio_postgres_rustls::MakeRustlsConnect::new((**tls).clone());
                    let (client, connection) = self.config.connect(tls).await?;
                    tokio::spawn(connection);
                    Ok(client)
                }
            }
        });
        Ok(PgConn {
            runtime,
            client: client.map_err(|e| unavailable(&e))?,
            statements: HashMap::new(),
            ahead: None,
            poisoned: false,
        })
    }

    /// A blocking client that names itself `application_name` in `pg_stat_activity`, for
    /// a thread that waits on notifications.
    pub fn listening_client(&self, application_name: &str) -> Result<postgres::Client, StoreError> {
        let mut config = postgres::Config::from(self.config.clone());
        config.application_name(application_name);
        match &self.tls {
            PgTls::Plain => config.connect(NoTls),
            PgTls::Verified(tls) => config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(
                (**tls).clone(),
            )),
        }
        .map_err(|e| StoreError::Unavailable(e.to_string()))
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

fn read_value(row: &tokio_postgres::Row, column: usize) -> Result<Value, StoreError> {
    let decode = |e: tokio_postgres::Error| StoreError::Decode {
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
    fn statement(&mut self, sql: &str) -> Result<Prepared, StoreError> {
        if let Some(prepared) = self.statements.get(sql) {
            return Ok(prepared.clone());
        }
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        // Prepared after what waits to go ahead (a savepoint), so that a statement that
        // does not parse fails inside it, alone.
        let Self {
            runtime,
            client,
            ahead,
            ..
        } = self;
        let statement = send(runtime, client, ahead, client.prepare(sql))?;
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

/// Runs `request`, preceded in the same round trip by what waits to go `ahead`. An error
/// of what went ahead is returned in the request's place.
fn send<T>(
    runtime: &tokio::runtime::Runtime,
    client: &Client,
    ahead: &mut Option<String>,
    request: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, StoreError> {
    let ahead = ahead.take();
    runtime.block_on(async move {
        match ahead {
            None => request.await.map_err(Into::into),
            Some(script) => {
                // In this order: the script is queued on the connection first.
                let (before, result) = tokio::join!(biased; client.batch_execute(&script), request);
                before?;
                result.map_err(Into::into)
            }
        }
    })
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
        let params = as_params(params);
        let Self {
            runtime,
            client,
            ahead,
            ..
        } = self;
        send(runtime, client, ahead, client.execute(&statement, &params))
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        check_params(params)?;
        let (statement, names) = self.statement(sql)?;
        let params = as_params(params);
        let Self {
            runtime,
            client,
            ahead,
            ..
        } = self;
        let rows = send(runtime, client, ahead, client.query(&statement, &params))?;
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
        let script = match self.ahead.take() {
            Some(ahead) => format!("{ahead}; {script}"),
            None => script.to_string(),
        };
        self.runtime
            .block_on(self.client.batch_execute(&script))
            .map_err(Into::into)
    }

    fn batch_ahead(&mut self, script: &str) -> Result<(), StoreError> {
        self.ahead = Some(match self.ahead.take() {
            Some(ahead) => format!("{ahead}; {script}"),
            None => script.to_string(),
        });
        Ok(())
    }

    fn begin_write(&mut self) -> Result<(), StoreError> {
        self.batch("BEGIN")
    }

    fn begin_read(&mut self) -> Result<(), StoreError> {
        self.batch_ahead("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    }

    fn poison(&mut self) {
        self.poisoned = true;
    }

    fn is_broken(&self) -> bool {
        self.poisoned || self.client.is_closed()
    }
}
