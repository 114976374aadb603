//! Synthetic probes: now and then a real payment between two of our nodes (an invoice on
//! one, paid by the other), timed end to end. Each result feeds the availability and
//! payment-latency SLIs and the probe metrics. The money is booked like any other: one
//! journal entry moves the amount from the payer's node account to the payee's and the
//! fee to the probe-cost account, so the books still match the nodes.
//!
//! Crash safety: the probe is recorded before it is paid; a probe left in flight is
//! finished from what the paying node knows on a later round (or failed once its
//! deadline passed and the node never heard of it). Its journal entry has the probe's id,
//! so it is booked once.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ledger::{post, JournalEntry, Posting};
use node_pool::{LightningNode, NodeHealth, PaymentState};
use store::{Sql, StoreError, Value};

use crate::system::{node_account, PROBE_COST_ACCOUNT};
use ops::Slo;

use crate::{Gateway, GatewayError};

/// Probe settings. Defaults: on, every 30 s, 1,000 sat, a 60 s deadline, at most 10 sat
/// fee. In `fulgur serve`'s config as `[probes]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeConfig {
    pub enabled: bool,
    pub interval_ms: u64,
    pub amount_msat: u64,
    pub timeout_ms: u64,
    pub max_fee_msat: u64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_ms: 30_000,
            amount_msat: 1_000_000,
            timeout_ms: 60_000,
            max_fee_msat: 10_000,
        }
    }
}

impl ProbeConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.interval_ms < 1_000 {
            return Err(format!(
                "probes.interval_ms must be at least 1000, not {}",
                self.interval_ms
            ));
        }
        if self.amount_msat == 0 || self.amount_msat > 100_000_000 {
            return Err("probes.amount_msat must be between 1 and 100000000".into());
        }
        if self.timeout_ms == 0 {
            return Err("probes.timeout_ms must be positive".into());
        }
        Ok(())
    }
}

/// How a probe ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub id: String,
    pub from_node: String,
    pub to_node: String,
    pub succeeded: bool,
    pub latency_ms: u64,
    pub fee_msat: Option<u64>,
    pub failure: Option<String>,
}

/// How often a probe's payment state is polled while it waits.
const POLL: Duration = Duration::from_millis(10);
/// Probes left in flight that one round finishes, at most.
const MAX_RECONCILED_PER_ROUND: i64 = 64;

impl Gateway {
    /// The next (payer, payee) pair of healthy nodes, in turn over every ordered pair.
    fn probe_pair(&self) -> Option<(String, String)> {
        let mut healthy: Vec<String> = self
            .inner
            .pool
            .status()
            .into_iter()
            // Nodes without a usable channel are probed too: that they cannot pay or be
            // paid is what a probe is for.
            .filter(|s| s.health == NodeHealth::Healthy)
            .map(|s| s.name)
            .collect();
        healthy.sort();
        let n = healthy.len();
        if n < 2 {
            return None;
        }
        let turn = self.inner.probe_turn.fetch_add(1, Ordering::Relaxed) % (n * (n - 1));
        let from = turn / (n - 1);
        let to = (from + 1 + turn % (n - 1)) % n;
        Some((healthy[from].clone(), healthy[to].clone()))
    }

    /// Runs one probe now and waits for its outcome (up to the deadline); `None` when
    /// fewer than two nodes can take part. A probe still in flight at the deadline is
    /// left for [`Gateway::reconcile_probes`].
    pub async fn probe_once(
        &self,
        config: &ProbeConfig,
    ) -> Result<Option<ProbeResult>, GatewayError> {
        let Some((from, to)) = self.probe_pair() else {
            return Ok(None);
        };
        let (payer, payee) = (self.inner.pool.get(&from)?, self.inner.pool.get(&to)?);
        let started = Instant::now();
        let invoice = payee
            .create_invoice(config.amount_msat, "fulgur probe", 120)
            .await?;
        let (id, now) = (self.new_id("probe"), self.now_ms());
        let row = (
            id.clone(),
            invoice.payment_hash.clone(),
            from.clone(),
            to.clone(),
        );
        let amount = config.amount_msat;
        self.inner
            .store
            .write(move |sql| {
                sql.execute(
                    "INSERT INTO probes (id, payment_hash, from_node, to_node, amount_msat, state, \
                     started_at_ms) VALUES ($1, $2, $3, $4, $5, 'in_flight', $6)",
                    &[
                        row.0.as_str().into(),
                        row.1.as_str().into(),
                        row.2.as_str().into(),
                        row.3.as_str().into(),
                        amount.into(),
                        Value::Int(now),
                    ],
                )
            })
            .await?;
        let sent = payer
            .pay_invoice(&invoice.bolt11, None, Some(config.max_fee_msat))
            .await;
        let outcome = match sent {
            Err(e) => Some(PaymentState::Failed {
                reason: e.to_string(),
            }),
            Ok(_) => wait_final(payer.as_ref(), &invoice.payment_hash, config.timeout_ms).await,
        };
        let Some(state) = outcome else {
            tracing::warn!(probe = %id, %from, %to, "probe still in flight at its deadline");
            return Ok(None);
        };
        let fee = payer
            .payment(&invoice.payment_hash)
            .and_then(|p| p.fee_msat);
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.finish_probe(&id, state, fee, latency_ms).await
    }

    /// Books a finished probe once (a repeat finds it final and does nothing), then
    /// records its metrics and SLIs.
    async fn finish_probe(
        &self,
        id: &str,
        state: PaymentState,
        fee_msat: Option<u64>,
        latency_ms: u64,
    ) -> Result<Option<ProbeResult>, GatewayError> {
        let (succeeded, failure) = match state {
            PaymentState::Succeeded => (true, None),
            PaymentState::Failed { reason } => (false, Some(reason)),
            PaymentState::Pending => return Ok(None),
        };
        let (probe_id, now) = (id.to_string(), self.now_ms());
        let fee = fee_msat.unwrap_or(0);
        let failure_text = failure.clone();
        let finished = self
            .inner
            .store
            .write(move |sql| book_probe(sql, &probe_id, succeeded, fee, failure_text, now))
            .await?;
        let Some((from_node, to_node)) = finished else {
            return Ok(None);
        };
        let outcome = if succeeded { "succeeded" } else { "failed" };
        metrics::counter!("fulgur_probe_payments_total", "outcome" => outcome).increment(1);
        metrics::histogram!("fulgur_probe_payment_duration_seconds", "outcome" => outcome)
            .record(latency_ms as f64 / 1_000.0);
        self.inner.sli.record(Slo::Availability, succeeded, now);
        if succeeded {
            self.inner
                .sli
                .record_latency(Slo::PaymentLatency, latency_ms, now);
        }
        Ok(Some(ProbeResult {
            id: id.to_string(),
            from_node,
            to_node,
            succeeded,
            latency_ms,
            fee_msat: succeeded.then_some(fee),
            failure,
        }))
    }

    /// Finishes probes a crash or a deadline left in flight, from what the paying node
    /// knows; a probe the node never heard of fails once `timeout_ms` has passed since
    /// it started. Runs at start and before each probe.
    pub async fn reconcile_probes(&self, timeout_ms: u64) -> Result<usize, GatewayError> {
        let stale_before = self
            .now_ms()
            .saturating_sub(i64::try_from(timeout_ms).unwrap_or(i64::MAX));
        let stale = self
            .inner
            .store
            .read(move |sql| {
                let rows = sql.query(
                    "SELECT id, payment_hash, from_node, started_at_ms FROM probes \
                     WHERE state = 'in_flight' ORDER BY started_at_ms LIMIT $1",
                    &[Value::Int(MAX_RECONCILED_PER_ROUND)],
                )?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.text("id")?.to_string(),
                            r.text("payment_hash")?.to_string(),
                            r.text("from_node")?.to_string(),
                            r.i64("started_at_ms")?,
                        ))
                    })
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await?;
        let mut finished = 0;
        for (id, hash, from, started_at_ms) in stale {
            // Another replica's node: that replica finishes its own probes.
            let Ok(payer) = self.inner.pool.get(&from) else {
                continue;
            };
            let known = payer.payment(&hash);
            let (state, fee) = match known {
                Some(p) => (p.state, p.fee_msat),
                None if started_at_ms >= stale_before => continue,
                None => (
                    PaymentState::Failed {
                        reason: "never sent (interrupted)".into(),
                    },
                    None,
                ),
            };
            let latency_ms =
                u64::try_from(self.now_ms().saturating_sub(started_at_ms)).unwrap_or(0);
            if self
                .finish_probe(&id, state, fee, latency_ms)
                .await?
                .is_some()
            {
                finished += 1;
            }
        }
        Ok(finished)
    }

    /// One round of the probe job: finishes probes a crash or a timeout left open, then
    /// sends one probe payment (a failed probe is logged and recorded, not an error).
    pub async fn probe_round(&self, config: &ProbeConfig) -> Result<(), GatewayError> {
        self.reconcile_probes(config.timeout_ms).await?;
        if let Some(result) = self.probe_once(config).await? {
            if !result.succeeded {
                tracing::warn!(from = %result.from_node, to = %result.to_node, failure = ?result.failure, "probe payment failed");
            }
        }
        Ok(())
    }
}

/// Polls the payer until the payment is final or `timeout_ms` passes.
async fn wait_final(
    payer: &dyn LightningNode,
    payment_hash: &str,
    timeout_ms: u64,
) -> Option<PaymentState> {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    while Instant::now() < deadline {
        if let Some(state) = payer
            .payment(payment_hash)
            .map(|p| p.state)
            .filter(|s| *s != PaymentState::Pending)
        {
            return Some(state);
        }
        tokio::time::sleep(POLL).await;
    }
    None
}

/// Marks the probe final and, for a success, books it: the payer's node pays amount plus
/// fee, the payee's node gets the amount, the fee is the probe's cost. Returns the two
/// nodes, or `None` when the probe was already final.
fn book_probe(
    sql: &mut dyn Sql,
    id: &str,
    succeeded: bool,
    fee_msat: u64,
    failure: Option<String>,
    now: i64,
) -> Result<Option<(String, String)>, GatewayError> {
    let row = sql.query_opt(
        "UPDATE probes SET state = $2, fee_msat = $3, failure = $4, finished_at_ms = $5 \
         WHERE id = $1 AND state = 'in_flight' RETURNING from_node, to_node, amount_msat",
        &[
            id.into(),
            if succeeded { "succeeded" } else { "failed" }.into(),
            succeeded.then_some(fee_msat).into(),
            failure.into(),
            Value::Int(now),
        ],
    )?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (from, to, amount) = (
        row.text("from_node")?.to_string(),
        row.text("to_node")?.to_string(),
        row.i64("amount_msat")?,
    );
    if succeeded {
        let fee = i64::try_from(fee_msat).expect("bounded by the probe's max fee");
        let mut postings = vec![
            Posting::new(&node_account(&from), "probe", amount + fee),
            Posting::new(&node_account(&to), "probe", -amount),
        ];
        if fee > 0 {
            postings.push(Posting::new(PROBE_COST_ACCOUNT, "probe_fee", -fee));
        }
        post(
            sql,
            &JournalEntry {
                id: format!("probe_{id}"),
                kind: "probe".into(),
                reference: Some(id.to_string()),
                postings,
            },
            now,
        )?;
    }
    Ok(Some((from, to)))
}
