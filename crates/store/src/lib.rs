//! `store`: Fulgur's state in SQLite (the embedded default: one file, WAL) or PostgreSQL
//! (production), behind one interface and one conformance suite.
//!
//! Domain crates write their SQL once against [`Sql`] inside a closure; the store runs the
//! closure in a transaction on its own threads. Writes are group-committed (see
//! `workers.rs`): many callers' transactions share one commit, each still atomic on its own.
//!
//! ```no_run
//! # async fn demo() -> Result<(), store::StoreError> {
//! let store = store::Store::open(&store::StoreConfig::new("sqlite:///tmp/fulgur.db")).await?;
//! store.migrate(0).await?;
//! let tenants: i64 = store
//!     .read(|sql| sql.query_one("SELECT COUNT(*) FROM tenants", &[])?.i64(0))
//!     .await?;
//! # Ok(()) }
//! ```

mod error;
mod listen;
mod migrate;
mod pg_tls;
mod postgres;
mod sql;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;
mod value;
mod workers;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

pub use crate::error::StoreError;
pub use crate::listen::{Listener, Notice};
pub use crate::migrate::{latest_version, Migration, MIGRATIONS};
pub use crate::sql::{Dialect, Sql};
pub use crate::value::{Column, Row, Value};

use crate::sql::Connection;

/// Where the store lives and how many connections it may use. Defaults: 8 reader
/// connections, 1 group-committing writer on PostgreSQL (SQLite always has one), 5 s to get
/// a connection.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `sqlite://PATH` (a file, created if absent) or `postgres://USER@HOST:PORT/DB`.
    pub url: String,
    pub max_readers: u32,
    /// Writers batch their jobs; more than one runs batches in parallel, and a deadlock
    /// between two of them fails the one job PostgreSQL picks (its caller sees the error).
    pub postgres_writers: usize,
    pub connect_timeout: Duration,
}

impl StoreConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_readers: 8,
            postgres_writers: 1,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

struct Inner {
    dialect: Dialect,
    reads: mpsc::Sender<workers::ReadJob>,
    writes: workers::Queue,
    readers: usize,
    writers: usize,
    readers_busy: Arc<AtomicUsize>,
    writers_busy: Arc<AtomicUsize>,
    /// PostgreSQL's connection settings, for listening threads; `None` on SQLite.
    postgres: Option<Arc<postgres::PgManager>>,
}

/// How busy the store's threads are, for the pool-usage gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub readers: usize,
    pub readers_busy: usize,
    pub reads_queued: usize,
    pub writers: usize,
    pub writers_busy: usize,
    pub writes_queued: usize,
}

/// A handle to the store; cheap to clone. The store's threads stop when the last handle
/// is dropped.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

enum Target {
    Sqlite(PathBuf),
    Postgres(Box<tokio_postgres::Config>, pg_tls::PgTls),
}

fn parse_url(url: &str) -> Result<Target, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(StoreError::InvalidUrl(url.to_string()));
        }
        return Ok(Target::Sqlite(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let (rest, tls) = pg_tls::split_tls(url)?;
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|_| StoreError::InvalidUrl(pg_tls::redact(url)))?;
        if matches!(tls, pg_tls::PgTls::Verified(_)) {
            // TLS or nothing: a server that does not offer it is refused.
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
        }
        return Ok(Target::Postgres(Box::new(config), tls));
    }
    Err(StoreError::InvalidUrl(pg_tls::redact(url)))
}

impl Store {
    /// Connects (creating the SQLite file if needed) and starts the store's threads; it
    /// does not migrate (see [`Store::migrate`]).
    pub async fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let mut pg_manager = None;
        let (dialect, connect, writers): (Dialect, workers::Connect, usize) =
            match parse_url(&config.url)? {
                Target::Sqlite(path) => {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir).map_err(|e| {
                            StoreError::Unavailable(format!("{}: {e}", dir.display()))
                        })?;
                    }
                    let manager = sqlite::SqliteManager { path };
                    let connect: workers::Connect =
                        Arc::new(move || Ok(Box::new(manager.connect()?) as Box<dyn Connection>));
                    // SQLite has one writer at a time; more threads would only wait on it.
                    (Dialect::Sqlite, connect, 1)
                }
                Target::Postgres(mut pg, tls) => {
                    pg.connect_timeout(config.connect_timeout);
                    let manager = Arc::new(postgres::PgManager { config: *pg, tls });
                    pg_manager = Some(Arc::clone(&manager));
                    let connect: workers::Connect =
                        Arc::new(move || Ok(Box::new(manager.connect()?) as Box<dyn Connection>));
                    (Dialect::Postgres, connect, config.postgres_writers.max(1))
                }
            };
        let readers = config.max_readers.max(1) as usize;
        let (readers_busy, writers_busy) = (Arc::default(), Arc::default());
        let store = Self {
            inner: Arc::new(Inner {
                dialect,
                reads: workers::start_readers(readers, &connect, &readers_busy)?,
                writes: workers::start_writers(
                    writers,
                    workers::MAX_BATCH,
                    &connect,
                    &writers_busy,
                )?,
                readers,
                writers,
                readers_busy,
                writers_busy,
                postgres: pg_manager,
            }),
        };
        // Fail now, not on the first request, if the database cannot be reached.
        store.with_connection(|_| Ok(())).await?;
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// Tells `listener` what is notified on `channel` (PostgreSQL's `NOTIFY`, from any
    /// process on the database), from a thread of its own that ends once `listener` is
    /// dropped. `false` on SQLite, which has no such thing: nothing is ever delivered.
    pub fn listen(
        &self,
        channel: &'static str,
        listener: std::sync::Weak<dyn Listener>,
    ) -> Result<bool, StoreError> {
        let Some(manager) = &self.inner.postgres else {
            return Ok(false);
        };
        listen::spawn(Arc::clone(manager), channel, listener)?;
        Ok(true)
    }

    /// Threads, how many are busy, and jobs waiting, for readers and writers.
    pub fn usage(&self) -> PoolUsage {
        let queued = |capacity: usize, max: usize| max.saturating_sub(capacity);
        let inner = &self.inner;
        PoolUsage {
            readers: inner.readers,
            readers_busy: inner.readers_busy.load(Ordering::Relaxed),
            reads_queued: queued(inner.reads.capacity(), inner.reads.max_capacity()),
            writers: inner.writers,
            writers_busy: inner.writers_busy.load(Ordering::Relaxed),
            writes_queued: queued(inner.writes.capacity(), inner.writes.max_capacity()),
        }
    }

    /// Runs `f` on a reader connection inside a read-only transaction (one consistent
    /// snapshot). The answer is sent before the transaction ends: ending it changes
    /// nothing the answer depends on.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut dyn Sql) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: workers::ReadJob = Box::new(move |conn| match conn {
            Ok(conn) => read_on(conn, f, reply),
            Err(e) => {
                let _ = reply.send(Err(E::from(e)));
            }
        });
        self.inner.reads.try_send(job).map_err(refused)?;
        timed_read(answer)
            .await
            .map_err(|_| E::from(StoreError::Closed))?
    }

    /// Runs `f`, which runs one `SELECT`, outside any transaction: a single statement sees
    /// one snapshot on its own, and on PostgreSQL this saves the transaction's `BEGIN` and
    /// `ROLLBACK` (half the database's work for a lookup by key). A second statement, or a
    /// statement that is not a `SELECT`, fails with `StoreError::Backend` (a bug).
    pub async fn read_one<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut dyn Sql) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        timed_read(self.on_reader(move |conn| {
            f(&mut sql::OneStatement {
                conn: conn?,
                ran: false,
            })
        }))
        .await
    }

    /// Runs `f` in a write transaction: all of its statements commit together, or none if
    /// `f` returns an error or the commit fails. Returns once the commit is durable.
    ///
    /// On PostgreSQL a failed statement aborts the transaction: use `ON CONFLICT` rather
    /// than catching a constraint error and carrying on.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut dyn Sql) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let started = Instant::now();
        let (reply, answer) = oneshot::channel();
        self.inner
            .writes
            .try_send(workers::job(f, reply))
            .map_err(refused)?;
        let result = answer
            .instrument(tracing::info_span!("store.write"))
            .await
            .map_err(|_| {
                E::from(StoreError::Unavailable(
                    "write batch could not start".into(),
                ))
            })?;
        metrics::histogram!("fulgur_store_operation_duration_seconds", "operation" => "write")
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// Applies pending migrations; returns the names applied (empty when up to date).
    pub async fn migrate(&self, now_ms: i64) -> Result<Vec<&'static str>, StoreError> {
        self.with_connection(move |conn| migrate::run(conn, now_ms))
            .await
    }

    /// The schema version the database is at (0 when empty), checked against this binary.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        self.with_connection(migrate::applied).await
    }

    /// Fails with `SchemaBehind` unless every migration of this binary is applied.
    pub async fn require_current_schema(&self) -> Result<(), StoreError> {
        let found = self.schema_version().await?;
        let needed = latest_version();
        if found < needed {
            return Err(StoreError::SchemaBehind { found, needed });
        }
        Ok(())
    }

    async fn with_connection<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut dyn Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.on_reader(move |conn| f(conn?)).await
    }

    /// Runs `f` on a reader thread with its connection (or why it has none).
    async fn on_reader<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(Result<&mut dyn Connection, StoreError>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: workers::ReadJob = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        self.inner.reads.try_send(job).map_err(refused)?;
        answer.await.map_err(|_| E::from(StoreError::Closed))?
    }
}

/// Why a job could not be queued.
fn refused<J, E: From<StoreError>>(error: mpsc::error::TrySendError<J>) -> E {
    E::from(match error {
        mpsc::error::TrySendError::Full(_) => StoreError::Overloaded,
        mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
    })
}

/// Times a read (`fulgur_store_operation_duration_seconds`) and spans it.
async fn timed_read<T>(read: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let out = read.instrument(tracing::info_span!("store.read")).await;
    metrics::histogram!("fulgur_store_operation_duration_seconds", "operation" => "read")
        .record(started.elapsed().as_secs_f64());
    out
}

fn read_on<T, E, F>(conn: &mut dyn Connection, f: F, reply: oneshot::Sender<Result<T, E>>)
where
    F: FnOnce(&mut dyn Sql) -> Result<T, E>,
    E: From<StoreError>,
{
    if let Err(e) = conn.begin_read() {
        let _ = reply.send(Err(E::from(e)));
        return;
    }
    // A panicking read (a bug) must not leave its connection inside the transaction: the
    // next read on it would run on this snapshot (PostgreSQL) or fail to begin (SQLite).
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let answer = f(&mut *conn)?;
        // Nothing queued may fail after the answer is given.
        conn.flush().map_err(E::from)?;
        Ok(answer)
    }));
    let panic = match result {
        Ok(result) => {
            let _ = reply.send(result);
            None
        }
        Err(panic) => Some(panic),
    };
    // Nothing to keep from a read; ending it releases the snapshot. A connection whose
    // transaction did not end is not used again.
    if conn.batch("ROLLBACK").is_err() {
        conn.poison();
    }
    if let Some(panic) = panic {
        std::panic::resume_unwind(panic);
    }
}
