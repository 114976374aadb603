//! Jobs, their tasks and their figures.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Most jobs one scheduler runs.
pub const MAX_JOBS: usize = 64;
/// No job runs more often than this.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// No run is allowed longer than this, whatever its spec says.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Why a run failed, as the job says it; logged, counted, never acted on here.
pub type JobError = Box<dyn std::error::Error + Send + Sync>;

/// What a run reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ran {
    /// The work it saw and left for a later run (a bounded batch's remainder), if it knows.
    pub backlog: Option<u64>,
}

/// A job: a stable name (a metric label), how long to wait after each run, and how long a
/// run may take before it is cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSpec {
    pub name: &'static str,
    pub every: Duration,
    pub timeout: Duration,
}

/// A job's figures since the scheduler started.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JobStats {
    pub runs: u64,
    pub failures: u64,
    pub timeouts: u64,
    pub last_duration_ms: Option<u64>,
    pub backlog: Option<u64>,
}

type Run = Pin<Box<dyn Future<Output = Result<Ran, JobError>> + Send>>;
type Work = Box<dyn Fn() -> Run + Send + Sync>;

/// Collects the jobs; [`SchedulerBuilder::start`] starts them all.
#[derive(Default)]
pub struct SchedulerBuilder {
    jobs: Vec<(JobSpec, Work)>,
}

impl SchedulerBuilder {
    /// Adds a job. Its interval is at least [`MIN_INTERVAL`], its timeout at most
    /// [`MAX_TIMEOUT`].
    ///
    /// # Panics
    /// On a name already taken or more than [`MAX_JOBS`] jobs: both are wiring mistakes
    /// found by the first start.
    pub fn job<F, Fut>(mut self, spec: JobSpec, work: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Ran, JobError>> + Send + 'static,
    {
        assert!(
            self.jobs.iter().all(|(s, _)| s.name != spec.name),
            "job {} added twice",
            spec.name
        );
        assert!(self.jobs.len() < MAX_JOBS, "more than {MAX_JOBS} jobs");
        let spec = JobSpec {
            every: spec.every.max(MIN_INTERVAL),
            timeout: spec.timeout.clamp(MIN_INTERVAL, MAX_TIMEOUT),
            ..spec
        };
        self.jobs.push((spec, Box::new(move || Box::pin(work()))));
        self
    }

    /// Starts every job on the current runtime; each runs first one interval from now.
    pub fn start(self) -> Scheduler {
        let (stop, stopped) = watch::channel(false);
        let stats: Arc<Mutex<BTreeMap<&'static str, JobStats>>> = Arc::default();
        let tasks = self
            .jobs
            .into_iter()
            .map(|(spec, work)| {
                stats
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(spec.name, JobStats::default());
                tokio::spawn(run_job(spec, work, Arc::clone(&stats), stopped.clone()))
            })
            .collect();
        Scheduler { stop, tasks, stats }
    }
}

/// The running jobs.
pub struct Scheduler {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    stats: Arc<Mutex<BTreeMap<&'static str, JobStats>>>,
}

impl Scheduler {
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder::default()
    }

    /// Each job's figures, by name.
    pub fn stats(&self) -> BTreeMap<&'static str, JobStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops every job at once: a run in progress is cut off at its next await point.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a job's task panicked");
            }
        }
    }
}

async fn run_job(
    spec: JobSpec,
    work: Work,
    stats: Arc<Mutex<BTreeMap<&'static str, JobStats>>>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(spec.every) => {}
            _ = stopped.changed() => return,
        }
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(spec.timeout, work()) => outcome,
            // Stopping cuts a run off like a timeout (or a crash) would.
            _ = stopped.changed() => return,
        };
        let elapsed = started.elapsed();
        let label = match &outcome {
            Ok(Ok(_)) => "ok",
            Ok(Err(_)) => "failed",
            Err(_) => "timed_out",
        };
        metrics::counter!("fulgur_job_runs_total", "name" => spec.name, "outcome" => label)
            .increment(1);
        metrics::histogram!("fulgur_job_duration_seconds", "name" => spec.name)
            .record(elapsed.as_secs_f64());
        let mut all = stats.lock().unwrap_or_else(|p| p.into_inner());
        let figures = all.entry(spec.name).or_default();
        figures.runs += 1;
        figures.last_duration_ms = Some(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
        match outcome {
            Ok(Ok(ran)) => {
                if let Some(backlog) = ran.backlog {
                    metrics::gauge!("fulgur_job_backlog", "name" => spec.name).set(backlog as f64);
                }
                figures.backlog = ran.backlog;
            }
            Ok(Err(error)) => {
                figures.failures += 1;
                tracing::warn!(job = spec.name, %error, "job failed; it runs again next interval");
            }
            Err(_) => {
                figures.timeouts += 1;
                tracing::warn!(
                    job = spec.name,
                    timeout_ms = spec.timeout.as_millis() as u64,
                    "job timed out and was cut off; it runs again next interval"
                );
            }
        }
    }
}
