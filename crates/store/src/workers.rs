//! The store's own threads, each holding one connection (reconnected when lost). They are
//! plain threads, not tokio's blocking pool: a PostgreSQL connection is driven by its
//! thread's own runtime, which must not run where another tokio runtime is entered.
//!
//! Readers take one job at a time. Writers group-commit: they take queued write jobs in
//! batches and commit each batch in one transaction — one fsync (SQLite) or one WAL flush
//! (PostgreSQL) for many jobs, and for every row lock they hold. Each job runs inside its
//! own savepoint, so a job that fails rolls back alone and the rest of its batch still
//! commits. A job's caller hears back only after the commit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::sql::{Connection, Sql};
use crate::StoreError;

/// Opens a new connection to the store's database.
pub(crate) type Connect = Arc<dyn Fn() -> Result<Box<dyn Connection>, StoreError> + Send + Sync>;

/// A worker's connection, opened on first use and replaced when lost.
struct Slot {
    connect: Connect,
    conn: Option<Box<dyn Connection>>,
}

impl Slot {
    fn get(&mut self) -> Result<&mut dyn Connection, StoreError> {
        if self.conn.as_ref().is_none_or(|c| c.is_broken()) {
            self.conn = Some((self.connect)()?);
        }
        Ok(self.conn.as_deref_mut().expect("just connected"))
    }
}

/// A job for a reader: gets a connection (or why there is none) and replies on its own.
pub(crate) type ReadJob = Box<dyn FnOnce(Result<&mut dyn Connection, StoreError>) + Send>;

/// Counts a worker busy while `work` runs (for the pool-usage gauges).
fn busy_while<T>(busy: &AtomicUsize, work: impl FnOnce() -> T) -> T {
    busy.fetch_add(1, Ordering::Relaxed);
    let out = work();
    busy.fetch_sub(1, Ordering::Relaxed);
    out
}

/// Starts `readers` reader threads; `busy` counts those running a job.
pub(crate) fn start_readers(
    readers: usize,
    connect: &Connect,
    busy: &Arc<AtomicUsize>,
) -> Result<mpsc::Sender<ReadJob>, StoreError> {
    let (queue, jobs) = mpsc::channel::<ReadJob>(MAX_QUEUED);
    let jobs = Arc::new(Mutex::new(jobs));
    for i in 0..readers {
        let (jobs, busy) = (Arc::clone(&jobs), Arc::clone(busy));
        let mut slot = Slot {
            connect: Arc::clone(connect),
            conn: None,
        };
        spawn(format!("store-reader-{i}"), move || loop {
            let job = {
                let mut jobs = jobs.lock().unwrap_or_else(|p| p.into_inner());
                jobs.blocking_recv()
            };
            let Some(job) = job else { return };
            busy_while(&busy, || {
                let run = std::panic::AssertUnwindSafe(|| job(slot.get()));
                // A panicking read (a bug) costs its caller only: the reply went with it.
                if std::panic::catch_unwind(run).is_err() {
                    tracing::error!("a store read job panicked");
                }
            });
        })?;
    }
    Ok(queue)
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name(name)
        .spawn(f)
        .map(|_| ())
        .map_err(|e| StoreError::Backend(format!("store thread: {e}")))
}

/// Most jobs committed together. On PostgreSQL too: every audited write updates the audit
/// chain's head row and every money movement its account's balance row, and those row
/// locks are held until the commit's WAL flush, so one job per transaction serialized such
/// writes at one flush each (BENCHMARKS.md, 2026-12-03). A job that deadlocks with another
/// process's batch fails alone: it runs in its own savepoint, and rolling that back drops
/// its locks and its wait, so the rest of its batch still commits.
pub(crate) const MAX_BATCH: usize = 256;
/// Most jobs waiting for a writer; beyond it callers get `Overloaded`.
pub(crate) const MAX_QUEUED: usize = 16_384;

/// Runs a caller's closure; reports whether it succeeded (keep its writes) and how to tell
/// the caller once the batch's fate is known.
pub(crate) type Job = Box<dyn FnOnce(&mut dyn Sql) -> Finished + Send>;

pub(crate) struct Finished {
    pub keep: bool,
    /// Called with `None` once committed, or the error that failed the commit.
    pub notify: Box<dyn FnOnce(Option<StoreError>) + Send>,
}

pub(crate) type Queue = mpsc::Sender<Job>;

/// Starts `writers` writer threads committing up to `max_batch` jobs per transaction;
/// `busy` counts those running a batch.
pub(crate) fn start_writers(
    writers: usize,
    max_batch: usize,
    connect: &Connect,
    busy: &Arc<AtomicUsize>,
) -> Result<Queue, StoreError> {
    let (queue, jobs) = mpsc::channel::<Job>(MAX_QUEUED);
    let jobs = Arc::new(Mutex::new(jobs));
    for i in 0..writers {
        let (jobs, busy) = (Arc::clone(&jobs), Arc::clone(busy));
        let mut slot = Slot {
            connect: Arc::clone(connect),
            conn: None,
        };
        spawn(format!("store-writer-{i}"), move || {
            while let Some(batch) = next_batch(&jobs, max_batch) {
                busy_while(&busy, || match slot.get() {
                    Ok(conn) => commit_batch(conn, batch),
                    Err(e) => fail_all(batch, &e),
                });
            }
        })?;
    }
    Ok(queue)
}

/// Blocks for one job, then takes whatever else is already queued, up to `max_batch`.
fn next_batch(jobs: &Mutex<mpsc::Receiver<Job>>, max_batch: usize) -> Option<Vec<Job>> {
    let mut jobs = jobs.lock().unwrap_or_else(|p| p.into_inner());
    let first = jobs.blocking_recv()?;
    let mut batch = vec![first];
    while batch.len() < max_batch {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

fn commit_batch(conn: &mut dyn Connection, batch: Vec<Job>) {
    if let Err(e) = conn.begin_write() {
        fail_all(batch, &e);
        return;
    }
    let single = batch.len() == 1;
    let mut finished = Vec::with_capacity(batch.len());
    for job in batch {
        // A lone job needs no savepoint: if it fails, the whole transaction rolls back.
        // The savepoint rides along with the job's first statement: it can only fail if
        // that statement fails too, and either fails the job.
        if !single {
            if let Err(e) = conn.batch_ahead("SAVEPOINT job") {
                let _ = conn.batch("ROLLBACK");
                fail_all_finished(finished, &e);
                return;
            }
        }
        let Some(outcome) = run_contained(job, conn) else {
            // What it queued is rolled back below with the rest of its work.
            let _ = conn.flush();
            // A panicking job (a bug) is rolled back alone; its caller, whose reply went
            // with the unwound closure, hears `Unavailable`. The writer thread lives on.
            let undo = if single {
                "ROLLBACK"
            } else {
                "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job"
            };
            if let Err(e) = conn.batch(undo) {
                let _ = conn.batch("ROLLBACK");
                fail_all_finished(finished, &e);
                return;
            }
            if single {
                return;
            }
            continue;
        };
        let outcome = settled(conn, outcome);
        if !single {
            let undo = if outcome.keep {
                "RELEASE SAVEPOINT job"
            } else {
                "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job"
            };
            if let Err(e) = conn.batch(undo) {
                let _ = conn.batch("ROLLBACK");
                finished.push(outcome);
                fail_all_finished(finished, &e);
                return;
            }
        }
        finished.push(outcome);
    }
    let ended = if single && !finished[0].keep {
        conn.batch("ROLLBACK")
    } else {
        conn.commit()
    };
    match ended {
        Ok(()) => {
            for f in finished {
                (f.notify)(None);
            }
        }
        Err(e) => {
            let _ = conn.batch("ROLLBACK");
            fail_all_finished(finished, &e);
        }
    }
}

/// Waits for what the job left queued (`execute_pipelined`): a job whose queued statement
/// failed is rolled back and its caller hears that error, though the job returned `Ok`.
fn settled(conn: &mut dyn Connection, outcome: Finished) -> Finished {
    match conn.flush() {
        Err(error) if outcome.keep => Finished {
            keep: false,
            notify: Box::new(move |_| (outcome.notify)(Some(error))),
        },
        _ => outcome,
    }
}

/// Runs one job, containing a panic: `None` if it panicked.
fn run_contained(job: Job, conn: &mut dyn Connection) -> Option<Finished> {
    let sql: &mut dyn Sql = conn;
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || job(sql))) {
        Ok(finished) => Some(finished),
        Err(_) => {
            tracing::error!("a store write job panicked; rolled back alone");
            metrics::counter!("fulgur_store_job_panics_total").increment(1);
            None
        }
    }
}

/// Jobs that never ran: their closures are dropped, their callers see `Unavailable`.
fn fail_all(batch: Vec<Job>, error: &StoreError) {
    tracing::error!(%error, jobs = batch.len(), "store write batch could not start");
    drop(batch);
}

fn fail_all_finished(finished: Vec<Finished>, error: &StoreError) {
    tracing::error!(%error, jobs = finished.len(), "store write batch failed");
    for f in finished {
        (f.notify)(Some(error.clone()));
    }
}

/// Wraps a caller's closure as a job whose result reaches `reply` after the commit.
pub(crate) fn job<T, E, F>(f: F, reply: oneshot::Sender<Result<T, E>>) -> Job
where
    F: FnOnce(&mut dyn Sql) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    Box::new(move |sql: &mut dyn Sql| {
        let result = f(sql);
        let keep = result.is_ok();
        Finished {
            keep,
            notify: Box::new(move |commit_error| {
                let result = match (result, commit_error) {
                    (Ok(_), Some(e)) => Err(E::from(e)),
                    (result, _) => result,
                };
                let _ = reply.send(result);
            }),
        }
    })
}
