//! `gateway`: the domain of Fulgur's gateway — accounts on the ledger, invoices and
//! payments over the node pool, the payment pipeline, idempotency, the outbox, and the
//! books check that compares the ledger with the nodes. It knows nothing of HTTP; the API
//! crate is a thin layer over [`Gateway`].
//!
//! Money rules: an incoming payment credits its invoice's account exactly once (a
//! conditional state change in the same transaction as the journal entry); an outgoing
//! payment holds amount plus maximum fee, then settles (actual fee) or releases; a payment
//! to one of our own open invoices settles inside the ledger without Lightning.

mod accounts;
mod alert_decisions;
mod approval_votes;
mod books;
mod case_reports;
mod channel_closes;
mod compliance_stages;
mod control_stages;
mod controls_access;
mod error;
mod events;
mod execution;
mod health;
mod inbound;
mod invoices;
mod node_registry;
mod observe;
mod payer_history;
mod payments;
mod period_reports;
mod pipeline;
mod probes;
mod reconcile;
mod records;
mod recoveries;
mod recovery_drive;
mod rule_changes;
mod settlement;
mod system;

use std::sync::Arc;

use node_pool::{Network, NodePool};
use store::Store;
use tokio::sync::Semaphore;

pub use crate::approval_votes::{ApprovalSigner, KeyStoreApprovalSigner, NewVote};
pub use crate::books::{BooksCheck, NodeBooks};
pub use crate::case_reports::ReportConfig;
pub use crate::error::GatewayError;
pub use crate::events::GatewaySink;
pub use crate::inbound::{InboundHold, InboundHoldState, InboundStage, InboundVerdict, Receipt};
pub use crate::invoices::{Expired, NewInvoice};
pub use crate::node_registry::NODE_LEASE_MS;
pub use crate::payments::{Accepted, Idempotency, NewPayment};
pub use crate::period_reports::ComplianceReport;
pub use crate::pipeline::{Checked, Decided, PaymentDraft, Pipeline, Slot, Stage, Verdict};
pub use crate::probes::{ProbeConfig, ProbeResult};
pub use crate::reconcile::{Reconciled, MAX_RECONCILED_PER_ROUND};
pub use crate::records::{
    FailureView, InvoiceRecord, InvoiceStatus, InvoiceView, PaymentRecord, PaymentStatus,
    PaymentView, StuckView,
};
pub use crate::recoveries::{NewRecovery, Recovery, RecoveryState};
pub use crate::system::{
    node_account, wallet_account, ONCHAIN_COST_ACCOUNT, RECOVERED_ACCOUNT, SUSPENSE_ACCOUNT,
    SYSTEM_TENANT,
};
/// The rate in [`GatewayConfig::eur_rate`].
pub use controls::EurRateConfig;
/// The readiness and objectives in [`GatewayConfig`].
pub use ops::{HealthConfig, SloConfig};
pub use outbox::EVENT_TYPES;
// The kernel's types the modules below name as `crate::…` (callers use `kernel`).
use kernel::{Actor, Clock, IdSource, Scope};

/// Gateway settings. Defaults: regtest; invoices expire after 1 h by default, at most
/// 7 days; descriptions up to 639 bytes (BOLT11's limit); the default maximum routing fee
/// is 1% of the amount but at least 10 sat; at most 4,096 payments executing at once;
/// ready with one node in sync (at most 6 blocks behind the chain's tip).
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub network: Network,
    pub default_invoice_expiry_secs: u32,
    pub max_invoice_expiry_secs: u32,
    pub max_description_bytes: usize,
    pub default_max_fee_ppm: u64,
    pub default_max_fee_floor_msat: u64,
    pub max_concurrent_executions: usize,
    /// When `/readyz` answers 200.
    pub health: HealthConfig,
    pub slo: SloConfig,
    /// The EUR rate approval thresholds are evaluated with.
    pub eur_rate: EurRateConfig,
    /// The score a screened name must reach to be a hit (default 0.8).
    pub screening_threshold: f64,
    /// How customers' risk is scored (default: the documented table).
    pub risk_table: compliance::risk::RiskTable,
    /// The transaction monitoring rules on a store that has none yet (default: the
    /// documented set, version 1); from then on the store's version in force, changed
    /// over the API by two people (`compliance::rule_sets`).
    pub monitoring_rules: aml::RuleSet,
    /// Suspicious activity reports: due time and the FIU's codes.
    pub reports: ReportConfig,
    /// How long a customer's records are kept after the relationship ends.
    pub retention: compliance::RetentionConfig,
    /// This instance in node leases: stable across restarts of one installation (so a
    /// restart after a crash takes its nodes back at once), different for every replica.
    /// Default: a fresh id per process.
    pub instance_id: Option<String>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            network: Network::Regtest,
            default_invoice_expiry_secs: 3_600,
            max_invoice_expiry_secs: 7 * 24 * 3_600,
            max_description_bytes: 639,
            default_max_fee_ppm: 10_000,
            default_max_fee_floor_msat: 10_000,
            max_concurrent_executions: 4_096,
            health: HealthConfig::default(),
            slo: SloConfig::default(),
            eur_rate: EurRateConfig::default(),
            screening_threshold: screening_default_threshold(),
            risk_table: compliance::risk::RiskTable::default(),
            monitoring_rules: aml::RuleSet::default(),
            reports: ReportConfig::default(),
            retention: compliance::RetentionConfig::default(),
            instance_id: None,
        }
    }
}

fn screening_default_threshold() -> f64 {
    compliance::ScreeningConfig::default().threshold
}

pub(crate) struct Inner {
    /// Who holds this process's node leases (`node_registry.rs`).
    pub instance: String,
    pub store: Store,
    pub pool: Arc<NodePool>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
    pub config: GatewayConfig,
    pub pipeline: Pipeline,
    pub executions: Arc<Semaphore>,
    /// Readiness and the node, channel and store gauges.
    pub health: ops::Health,
    /// Signs for the approval policy's HSM approvers.
    pub approval_signer: Option<Arc<dyn ApprovalSigner>>,
    /// The nodes' event sink, attached at the end of `start`.
    pub sink: Option<Arc<GatewaySink>>,
    pub sli: ops::Sli,
    /// The sanctions lists and the watchlist, in memory.
    pub screening: compliance::Screening,
    /// Customers and their due-diligence profiles.
    pub due_diligence: compliance::DueDiligence,
    /// Whose turn it is to probe (over ordered pairs of nodes).
    pub probe_turn: std::sync::atomic::AtomicUsize,
}

/// The gateway; cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<Inner>,
}

/// Assembles a [`Gateway`]: everything it uses is given before [`GatewayBuilder::build`],
/// which returns it complete. Nodes start before the gateway exists, with a
/// [`GatewaySink`] made first: until the gateway has started the sink refuses their
/// events, which each node keeps and offers again.
pub struct GatewayBuilder {
    store: Store,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    config: GatewayConfig,
    pipeline: Option<Pipeline>,
    chain_tip: Option<Arc<dyn node_pool::ChainTip>>,
    approval_signer: Option<Arc<dyn ApprovalSigner>>,
    sink: Option<Arc<GatewaySink>>,
}

impl GatewayBuilder {
    /// The sink the pool's nodes were given: attached once the gateway has started (see
    /// [`Gateway::start`]).
    pub fn event_sink(mut self, sink: Arc<GatewaySink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// The payment pipeline (default: [`Pipeline::standard`]).
    pub fn pipeline(mut self, pipeline: Pipeline) -> Self {
        self.pipeline = Some(pipeline);
        self
    }

    /// Where the chain's tip is read (the nodes' own chain source); without it nodes are
    /// not checked for sync.
    pub fn chain_tip(mut self, tip: Arc<dyn node_pool::ChainTip>) -> Self {
        self.chain_tip = Some(tip);
        self
    }

    /// Signs for the approval policy's HSM approvers; without it their approvals fail
    /// with `HsmUnavailable`.
    pub fn approval_signer(mut self, signer: Arc<dyn ApprovalSigner>) -> Self {
        self.approval_signer = Some(signer);
        self
    }

    /// The gateway over `pool`. Not started (nor its sink attached): see [`Gateway::start`].
    pub fn build(self, pool: Arc<NodePool>) -> Gateway {
        let config = self.config;

        let executions = Arc::new(Semaphore::new(config.max_concurrent_executions.max(1)));
        let instance = config
            .instance_id
            .clone()
            .unwrap_or_else(|| self.ids.next_id("gw"));
        let health = ops::Health::new(
            self.store.clone(),
            Arc::clone(&pool),
            self.chain_tip,
            Arc::clone(&self.clock),
            config.health.clone(),
        );
        let sli = ops::Sli::new(
            self.store.clone(),
            Arc::clone(&self.clock),
            config.slo.clone(),
        );
        let screening = compliance::Screening::new(
            self.store.clone(),
            Arc::clone(&self.clock),
            Arc::clone(&self.ids),
            compliance::ScreeningConfig {
                threshold: config.screening_threshold,
                network: config.network,
            },
        );
        let monitor = Arc::new(compliance_stages::Monitor::new(
            config.monitoring_rules.clone(),
            compliance::risk::Jurisdictions::bundled(),
        ));
        // Whatever pipeline was given, payments are screened against this gateway's lists.
        let pipeline = self
            .pipeline
            .unwrap_or_else(|| {
                Pipeline::standard(config.network, Arc::clone(&self.clock), self.store.clone())
            })
            .with_stage(Slot::Limits, Arc::new(compliance_stages::CustomerStage))
            .with_stage(
                Slot::Compliance,
                Arc::new(compliance_stages::MonitoringStage {
                    monitor: Arc::clone(&monitor),
                    store: self.store.clone(),
                    clock: Arc::clone(&self.clock),
                    refreshing: Arc::default(),
                }),
            )
            .with_inbound_stage(Arc::new(compliance_stages::InboundMonitoringStage {
                monitor,
                eur_rate: config.eur_rate.clone(),
                screening: screening.clone(),
            }))
            .with_stage(
                Slot::Compliance,
                Arc::new(compliance_stages::SanctionsStage {
                    screening: screening.clone(),
                    store: self.store.clone(),
                    clock: Arc::clone(&self.clock),
                }),
            );
        let due_diligence = compliance::DueDiligence::new(
            self.store.clone(),
            Arc::clone(&self.clock),
            Arc::clone(&self.ids),
            screening.clone(),
            config.risk_table.clone(),
        );
        Gateway {
            inner: Arc::new(Inner {
                instance,
                store: self.store,
                pool,
                clock: self.clock,
                ids: self.ids,
                config,
                pipeline,
                executions,
                health,
                approval_signer: self.approval_signer,
                sink: self.sink,
                sli,
                screening,
                due_diligence,
                probe_turn: std::sync::atomic::AtomicUsize::new(0),
            }),
        }
    }
}

impl Gateway {
    pub fn builder(
        store: Store,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
        config: GatewayConfig,
    ) -> GatewayBuilder {
        GatewayBuilder {
            store,
            clock,
            ids,
            config,
            pipeline: None,
            chain_tip: None,
            approval_signer: None,
            sink: None,
        }
    }

    /// Another sink delivering to this gateway (for a node added after it was built).
    pub fn event_sink(&self) -> Arc<GatewaySink> {
        let sink = GatewaySink::new();
        sink.attach(self);
        sink
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn pool(&self) -> &Arc<NodePool> {
        &self.inner.pool
    }

    /// Readiness and the gauges of nodes, channels and the store.
    pub fn health(&self) -> &ops::Health {
        &self.inner.health
    }

    /// The SLI counts (this gateway records payments, invoices and probes; the API its
    /// requests) and the SLA report.
    pub fn sli(&self) -> &ops::Sli {
        &self.inner.sli
    }

    /// Sanctions screening: the lists in force and the watchlist.
    pub fn screening(&self) -> &compliance::Screening {
        &self.inner.screening
    }

    /// Customers and their due-diligence profiles.
    pub fn due_diligence(&self) -> &compliance::DueDiligence {
        &self.inner.due_diligence
    }

    /// Deletes the records of customer relationships past their retention (`[retention]`),
    /// in at most `max_steps` bounded steps; returns the rows deleted.
    pub async fn purge_expired_records(&self, max_steps: u32) -> Result<u64, GatewayError> {
        let years = self.inner.config.retention.years;
        Ok(self
            .inner
            .due_diligence
            .purge_expired(years, max_steps)
            .await?)
    }

    /// How long records and operational copies are kept (`[retention]`).
    pub fn retention(&self) -> compliance::RetentionConfig {
        self.inner.config.retention
    }

    /// Deletes payments' idempotent answers older than `[retention] operational_days`, in
    /// at most `max_steps` bounded steps; returns the rows deleted.
    pub async fn prune_idempotency_keys(&self, max_steps: u32) -> Result<u64, GatewayError> {
        let cutoff_ms = self
            .now_ms()
            .saturating_sub(self.inner.config.retention.operational_ms());
        let mut deleted = 0;
        for _ in 0..max_steps {
            let gone = self
                .inner
                .store
                .write(move |sql| payments::prune_idempotency(sql, cutoff_ms))
                .await?;
            if gone == 0 {
                break;
            }
            deleted += gone;
        }
        Ok(deleted)
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    pub(crate) fn new_id(&self, prefix: &str) -> String {
        self.inner.ids.next_id(prefix)
    }

    /// The EUR rate policy thresholds are evaluated with now (recorded with each decision).
    pub(crate) fn eur_rate(&self) -> approvals::EurRate {
        approvals::EurRate {
            eur_cents_per_btc: self.inner.config.eur_rate.eur_cents_per_btc,
            source: self.inner.config.eur_rate.source.clone(),
            at_ms: self.now_ms(),
        }
    }

    /// Prepares the books and resumes interrupted work: creates the system accounts,
    /// registers pool nodes not yet on the books (their balance now is the opening
    /// balance), resumes payments a crash left pending or in flight, and credits invoices
    /// the nodes were paid while the gateway was down.
    pub async fn start(&self) -> Result<(), GatewayError> {
        let now = self.now_ms();
        self.inner
            .store
            .write(move |sql| system::ensure_system_accounts(sql, now))
            .await?;
        for status in self.inner.pool.status() {
            let node = self.inner.pool.get(&status.name)?;
            let balance_msat = system::channels_balance_msat(node.as_ref());
            let (name, pubkey) = (status.name.clone(), node.info().node_id);
            let instance = self.inner.instance.clone();
            // Ours, by name and key, before anything is booked or sent for it.
            let registered = self
                .inner
                .store
                .write(move |sql| {
                    node_registry::claim(sql, &name, &pubkey, &instance, now)?;
                    system::register_node(sql, &name, balance_msat, now)
                })
                .await?;
            if registered {
                tracing::info!(node = %status.name, balance_msat, "node registered on the books");
            }
        }
        // A node that matches its books (a node just registered always does) gets its
        // wallet baseline now, before anything can close a channel: a close right after
        // the first start is then booked like any other.
        self.book_channel_closes().await?;
        // The configured monitoring rules are the first version on a new store.
        let rules = self.inner.config.monitoring_rules.clone();
        self.inner
            .store
            .write(move |sql| compliance::rule_sets::seed(sql, &rules, now))
            .await?;
        // The lists are in memory before anything is screened.
        self.inner.screening.refresh().await?;
        self.recover().await?;
        // Probes a crash left in flight: finished from what their nodes know.
        self.reconcile_probes(ProbeConfig::default().timeout_ms)
            .await?;
        // Only now are the nodes' events booked: the books above are ready for them.
        if let Some(sink) = &self.inner.sink {
            sink.attach(self);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;
    use std::str::FromStr;

    use super::*;

    fn round_trip<T>(all: &[T], as_str: fn(T) -> &'static str)
    where
        T: Copy + Debug + PartialEq + FromStr,
    {
        for &v in all {
            assert_eq!(as_str(v).parse::<T>().ok(), Some(v));
        }
        assert!("unknown".parse::<T>().is_err());
    }

    #[test]
    fn stored_names_round_trip() {
        use InvoiceStatus as I;
        use PaymentStatus as P;
        use RecoveryState as R;
        round_trip(&[I::Open, I::Paid, I::Expired, I::Canceled], I::as_str);
        let payments = [
            P::Pending,
            P::AwaitingApproval,
            P::InFlight,
            P::Stuck,
            P::Succeeded,
            P::Failed,
            P::Rejected,
        ];
        round_trip(&payments, P::as_str);
        let recoveries = [
            R::AwaitingApproval,
            R::Closing,
            R::Sweeping,
            R::Succeeded,
            R::Rejected,
        ];
        round_trip(&recoveries, R::as_str);
    }
}
