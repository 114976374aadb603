//! The gateway's periodic work as jobs of the scheduler (`jobs`): each in a task of its
//! own with an interval and a timeout, so a recovery waiting on a slow HSM or a channel
//! close waiting on a silent peer delays neither invoice expiry nor lease renewal.

use std::future::Future;
use std::time::Duration;

use gateway::{Expired, Gateway, GatewayError, ProbeConfig, Reconciled};
use jobs::{JobSpec, Ran, Scheduler, SchedulerBuilder};

/// Sweeps of things past their time (invoices, approvals) and steps of approved work.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// A sweep is one bounded store pass; a minute means something is wrong.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(60);
/// Work that waits on nodes and the chain (closes, recoveries, reconciliation).
const NODE_WORK_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How often this replica adds its SLI counts to the shared rows.
const SLI_FLUSH: Duration = Duration::from_secs(10);
/// Unfinished payments are looked at again this often, once they have had no news for
/// `RECONCILE_QUIET_MS`.
const RECONCILE_EVERY: Duration = Duration::from_secs(30);
const RECONCILE_QUIET_MS: i64 = 60_000;
/// Node leases are renewed three times per lease; a renewal slower than that is useless.
const LEASE_RENEWAL: Duration = Duration::from_millis(gateway::NODE_LEASE_MS as u64 / 3);
/// A probe may take its payment's timeout, plus the reconciliation of earlier ones.
const PROBE_MARGIN: Duration = Duration::from_secs(30);

/// How soon a list version or watchlist change made on another replica or by the CLI is
/// screened against here; a check is two small queries when nothing changed.
const SCREENING_REFRESH: Duration = Duration::from_secs(2);
/// A new list version is rescreened against the customers, and reviews past due raise
/// alerts, within this.
const RESCREEN_EVERY: Duration = Duration::from_secs(10);
/// Records past their retention are deleted hourly, in at most this many bounded steps
/// (each its own transaction of at most 500 rows) per run.
const RETENTION_EVERY: Duration = Duration::from_secs(3_600);
const RETENTION_STEPS: u32 = 200;
/// Rebuilding the index of a large list (OpenSanctions) takes seconds, not minutes.
const SCREENING_REBUILD_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// What a gateway run tells the scheduler: the backlog, where the run knows it.
trait Report {
    fn ran(&self) -> Ran {
        Ran::default()
    }
}

impl Report for () {}
impl Report for bool {}
impl Report for usize {}
impl Report for u64 {}
impl Report for Vec<String> {}
impl Report for Reconciled {}
impl Report for Expired {
    fn ran(&self) -> Ran {
        Ran {
            backlog: Some(self.backlog),
        }
    }
}

/// Adds the job `name` running `work` on the gateway.
fn gateway_job<F, Fut, T>(
    builder: SchedulerBuilder,
    name: &'static str,
    every: Duration,
    timeout: Duration,
    gateway: &Gateway,
    work: F,
) -> SchedulerBuilder
where
    F: Fn(Gateway) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, GatewayError>> + Send + 'static,
    T: Report,
{
    let gateway = gateway.clone();
    builder.job(
        JobSpec {
            name,
            every,
            timeout,
        },
        move || {
            let run = work(gateway.clone());
            async move { Ok(run.await?.ran()) }
        },
    )
}

/// Starts the gateway's jobs (and the probes, if configured).
pub fn start(
    gateway: &Gateway,
    webhooks: &webhooks::Webhooks,
    probes: Option<ProbeConfig>,
) -> Scheduler {
    let g = gateway;
    let mut builder = Scheduler::builder();
    builder = gateway_job(
        builder,
        "screening_refresh",
        SCREENING_REFRESH,
        SCREENING_REBUILD_TIMEOUT,
        g,
        |g| async move { Ok(g.screening().refresh().await?) },
    );
    builder = gateway_job(
        builder,
        "list_rescreen",
        RESCREEN_EVERY,
        SCREENING_REBUILD_TIMEOUT,
        g,
        |g| async move { Ok(g.due_diligence().rescreen_pending().await?) },
    );
    builder = gateway_job(
        builder,
        "customer_reviews",
        RESCREEN_EVERY,
        SWEEP_TIMEOUT,
        g,
        |g| async move { Ok(g.due_diligence().raise_due_reviews().await?) },
    );
    builder = gateway_job(
        builder,
        "retention",
        RETENTION_EVERY,
        SCREENING_REBUILD_TIMEOUT,
        g,
        |g| async move { g.purge_expired_records(RETENTION_STEPS).await },
    );
    let (gateway, hooks) = (gateway.clone(), webhooks.clone());
    let keep_ms = gateway.retention().operational_ms();
    builder = builder.job(
        JobSpec {
            name: "operational_retention",
            every: RETENTION_EVERY,
            timeout: SWEEP_TIMEOUT,
        },
        move || {
            let (gateway, hooks) = (gateway.clone(), hooks.clone());
            async move {
                let answers = gateway.prune_idempotency_keys(RETENTION_STEPS).await?;
                let deliveries = hooks.prune(keep_ms, RETENTION_STEPS).await?;
                tracing::debug!(
                    answers,
                    deliveries,
                    "operational copies past their period deleted"
                );
                Ok(Ran::default())
            }
        },
    );
    builder = gateway_job(
        builder,
        "invoice_expiry",
        SWEEP_EVERY,
        SWEEP_TIMEOUT,
        g,
        |g| async move { g.expire_invoices().await },
    );
    builder = gateway_job(
        builder,
        "approval_expiry",
        SWEEP_EVERY,
        SWEEP_TIMEOUT,
        g,
        |g| async move { g.expire_approvals().await },
    );
    builder = gateway_job(
        builder,
        "approval_signing",
        SWEEP_EVERY,
        SWEEP_TIMEOUT,
        g,
        |g| async move { g.advance_pending().await },
    );
    builder = gateway_job(
        builder,
        "recoveries",
        SWEEP_EVERY,
        NODE_WORK_TIMEOUT,
        g,
        |g| async move { g.drive_recoveries().await },
    );
    builder = gateway_job(
        builder,
        "channel_closes",
        SWEEP_EVERY,
        NODE_WORK_TIMEOUT,
        g,
        |g| async move { g.book_channel_closes().await },
    );
    builder = gateway_job(
        builder,
        "payment_reconcile",
        RECONCILE_EVERY,
        NODE_WORK_TIMEOUT,
        g,
        |g| async move {
            g.reconcile_payments(RECONCILE_QUIET_MS, gateway::MAX_RECONCILED_PER_ROUND, false)
                .await
        },
    );
    builder = gateway_job(
        builder,
        "node_leases",
        LEASE_RENEWAL,
        LEASE_RENEWAL,
        g,
        |g| async move { g.renew_node_leases().await },
    );
    builder = gateway_job(
        builder,
        "sli_flush",
        SLI_FLUSH,
        SWEEP_TIMEOUT,
        g,
        |g| async move { g.sli().flush().await.map_err(GatewayError::from) },
    );
    if let Some(config) = probes.filter(|p| p.enabled) {
        let (every, timeout) = (
            Duration::from_millis(config.interval_ms),
            Duration::from_millis(config.timeout_ms) + PROBE_MARGIN,
        );
        builder = gateway_job(builder, "probes", every, timeout, g, move |g| {
            let config = config.clone();
            async move { g.probe_round(&config).await }
        });
    }
    builder.start()
}
