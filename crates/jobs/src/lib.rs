//! `jobs`: the scheduler for periodic background work. Each job runs in a task of its
//! own, one run at a time (single-flight within a process), waits its interval after each
//! run, and is cut off at its timeout, so a job stuck on a slow HSM or a silent peer
//! delays no other job and itself only until its timeout. Every run is counted and timed
//! (`fulgur_job_runs_total{name,outcome}`, `fulgur_job_duration_seconds{name}`, and
//! `fulgur_job_backlog{name}` when a run knows what it left), and the same figures are
//! kept for [`Scheduler::stats`].
//!
//! A run that times out (or runs when the scheduler stops) is dropped at an await point,
//! as a crash would stop it: the work
//! a job does must already survive a crash (every step its own transaction), and its next
//! run picks up where the store says it stopped.
//!
//! Must not know: what the jobs do, the store, HTTP. Timers are tokio's, which tests pause
//! and advance.

mod scheduler;

pub use crate::scheduler::{
    JobError, JobSpec, JobStats, Ran, Scheduler, SchedulerBuilder, MAX_JOBS, MAX_TIMEOUT,
    MIN_INTERVAL,
};
