//! PostgreSQL backend: the production store. Each store thread owns one connection and a
//! single-threaded runtime to drive it (tokio-postgres; the `postgres` crate's blocking
//! client cannot send two requests before reading the first answer). Statements are
//! prepared once per connection and cached.
//!
//! Round trips are what a statement costs here, so requests whose answer nobody waits for
//! are queued and sent in the same write as the next request that is waited for
//! (pipelined), and answered with it: a read's `BEGIN`, a job's `SAVEPOINT`, and the
//! statements a caller runs with `execute_pipelined` (an audit record, an outbox event).
//! The first error among them is returned in the awaited request's place, and a
//! PostgreSQL transaction refuses everything after an error, so nothing queued behind a
//! failure takes effect. A write batch's `BEGIN` is never queued: if it failed, the
//! statements behind it would commit one by one.

use std::collections::HashMap;
use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::BytesMut;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

use crate::pg_tls::PgTls;
use crate::sql::{Connection, Dialect, Sql};
use crate::value::check_params;
use crate::{Row, StoreError, Value};

/// Statements kept prepared per connection; the cache is cleared when it would grow past.
const STATEMENT_CACHE: usize = 256;

/// Most requests queued before they are sent on their own. Below 30 `join_all` polls them
/// in order, which is the order they are sent in.
const MAX_QUEUED: usize = 16;

/// A prepared statement and its result's column names (shared by every row it returns).
type Prepared = (Statement, Arc<[String]>);

/// A request not yet sent: it goes out, in order, with the next one that is awaited.
type Queued = Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>> + Send>>;

pub(crate) struct PgConn {
    runtime: tokio::runtime::Runtime,
    client: Arc<Client>,
    statements: HashMap<String, Prepared>,
    queued: Vec<Queued>,
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
            client: Arc::new(client.map_err(|e| unavailable(&e))?),
            statements: HashMap::new(),
            queued: Vec::new(),
            poisoned: false,
        })
    }

    /// A blocking client that names itself `application_name` in `pg_stat_activity`, for
    /// a thread that waits on notifications. A connection that stops answering (a
    /// half-open socket after a failover) fails within seconds, not TCP's minutes.
    pub fn listening_client(&self, application_name: &str) -> Result<postgres::Client, StoreError> {
        let mut config = self.config.clone();
        config
            .tcp_user_timeout(std::time::Duration::from_secs(5))
            .keepalives_idle(std::time::Duration::from_secs(5));
        let mut config = postgres::Config::from(config);
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
        // Prepared after what is queued (a savepoint), so that a statement that does not
        // parse fails inside it, alone.
        let statement = send(&self.runtime, &mut self.queued, self.client.prepare(sql))?;
        let names = statement
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let prepared = (statement, names);
        self.statements.insert(sql.to_string(), prepared.clone());
        Ok(prepared)
    }

    fn queue_script(&mut self, script: &str) {
        let (client, script) = (Arc::clone(&self.client), script.to_string());
        self.queued
            .push(Box::pin(async move { client.batch_execute(&script).await }));
    }
}

/// Sends what is `queued`, then `request`, in one write, and waits for all their answers.
/// The first error among the queued requests is returned in the request's place.
fn send<T>(
    runtime: &tokio::runtime::Runtime,
    queued: &mut Vec<Queued>,
    request: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, StoreError> {
    let queued = std::mem::take(queued);
    runtime.block_on(async move {
        if queued.is_empty() {
            return request.await.map_err(Into::into);
        }
        // `biased`: the queued requests are polled, and so sent, first.
        let (before, result) =
            tokio::join!(biased; futures_util::future::join_all(queued), request);
        if let Some(error) = before.into_iter().find_map(Result::err) {
            return Err(error.into());
        }
        result.map_err(Into::into)
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
        send(
            &self.runtime,
            &mut self.queued,
            self.client.execute(&statement, &params),
        )
    }

    fn execute_pipelined(&mut self, sql: &str, params: &[Value]) -> Result<(), StoreError> {
        check_params(params)?;
        let (statement, _) = self.statement(sql)?;
        let (client, params) = (Arc::clone(&self.client), params.to_vec());
        self.queued.push(Box::pin(async move {
            client
                .execute(&statement, &as_params(&params))
                .await
                .map(drop)
        }));
        if self.queued.len() >= MAX_QUEUED {
            self.flush()?;
        }
        Ok(())
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        check_params(params)?;
        let (statement, names) = self.statement(sql)?;
        let params = as_params(params);
        let rows = send(
            &self.runtime,
            &mut self.queued,
            self.client.query(&statement, &params),
        )?;
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
        send(
            &self.runtime,
            &mut self.queued,
            self.client.batch_execute(script),
        )
    }

    /// PostgreSQL answers `COMMIT` in an aborted transaction by rolling back, without an
    /// error: the `SELECT` before it fails there instead (a multi-statement query stops at
    /// its first error), so an aborted transaction is never reported committed.
    fn commit(&mut self) -> Result<(), StoreError> {
        self.batch("SELECT 1; COMMIT")
    }

    fn batch_ahead(&mut self, script: &str) -> Result<(), StoreError> {
        self.queue_script(script);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        send(&self.runtime, &mut self.queued, async { Ok(()) })
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
