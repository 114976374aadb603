//! Payments a crash, a lost event or a departed node left unfinished, brought to an end
//! in bounded rounds: at start (everything unfinished) and then periodically (what has
//! had no news for a while), so that no hold waits forever on an event that never comes.
//!
//! An in-flight payment is settled or failed from what its node knows, sent again if the
//! node never received it, and left alone while the node still has it pending (only at
//! start is a pending one handed to the node again, for the crash that left a record the
//! node's channel state never persisted). If its
//! node is no longer in the pool, the payment is marked **stuck** (visible in the API and
//! as `fulgur_payments_stuck`): its funds stay held, since the money may still move, until
//! the node returns and reports or an operator decides.

use std::sync::Arc;

use node_pool::{LightningNode, PaymentState};
use store::Value;

use crate::records::{PaymentRecord, PaymentStatus};
use crate::{Gateway, GatewayError};

/// Most unfinished payments one round looks at.
pub const MAX_RECONCILED_PER_ROUND: u32 = 256;
/// At start, rounds until nothing is left, at most this many; the periodic job takes the
/// rest (start must not wait on an unbounded backlog).
const MAX_START_ROUNDS: usize = 16;
/// A pending payment (accepted, not yet claimed by an execution) is looked at again only
/// after this long without news: executions normally claim it within the bound of
/// concurrent executions.
const PENDING_QUIET_MS: i64 = 10 * 60_000;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    pub looked_at: usize,
    pub settled: usize,
    pub failed: usize,
    /// Sent again, or handed to an execution again.
    pub resent: usize,
    /// Marked stuck this round (their node is not in the pool).
    pub stuck: usize,
    /// Stuck before, and their node is back.
    pub unstuck: usize,
}

impl Gateway {
    /// At start: rounds over every unfinished payment (bounded, see [`MAX_START_ROUNDS`]).
    pub(crate) async fn reconcile_at_start(&self) -> Result<(), GatewayError> {
        for _ in 0..MAX_START_ROUNDS {
            let round = self
                .reconcile_payments(0, MAX_RECONCILED_PER_ROUND, true)
                .await?;
            if round.looked_at < MAX_RECONCILED_PER_ROUND as usize {
                break;
            }
        }
        Ok(())
    }

    /// One bounded round over at most `limit` unfinished payments without news for
    /// `quiet_ms`, oldest first. `everything`: also payments handed to executions of this
    /// process (at start there are none yet).
    pub async fn reconcile_payments(
        &self,
        quiet_ms: i64,
        limit: u32,
        everything: bool,
    ) -> Result<Reconciled, GatewayError> {
        let now = self.now_ms();
        let (in_flight_before, pending_before) = if everything {
            (now, now)
        } else {
            (now - quiet_ms, now - quiet_ms.max(PENDING_QUIET_MS))
        };
        let limit = i64::from(limit.clamp(1, MAX_RECONCILED_PER_ROUND));
        let instance = self.inner.instance.clone();
        let unfinished = self
            .inner
            .store
            .read(move |sql| -> Result<Vec<PaymentRecord>, GatewayError> {
                let rows = sql.query(
                    &format!(
                        // In flight: only on nodes no other live instance holds (another
                        // replica's payments are its own to reconcile). Pending: not the
                        // ones a compliance review holds (they would take every slot of
                        // the round, oldest first, and nothing may execute them).
                        "SELECT {} FROM payments WHERE \
                         ((status = 'in_flight' AND updated_at_ms <= $1 \
                           AND node_name NOT IN (SELECT name FROM node_registry \
                             WHERE owner_instance <> $4 AND lease_expires_at_ms >= $5)) \
                         OR (status = 'pending' AND updated_at_ms <= $2 AND NOT {})) \
                         ORDER BY updated_at_ms, id LIMIT $3",
                        PaymentRecord::COLUMNS,
                        compliance::alerts::holds_sql("payments.id")
                    ),
                    &[
                        Value::Int(in_flight_before),
                        Value::Int(pending_before),
                        Value::Int(limit),
                        instance.as_str().into(),
                        Value::Int(now),
                    ],
                )?;
                // One row that cannot be read must not stop the others.
                Ok(rows
                    .iter()
                    .filter_map(|row| match PaymentRecord::from_row(row) {
                        Ok(payment) => Some(payment),
                        Err(error) => {
                            tracing::error!(%error, "unreadable payment row skipped by the reconciler");
                            None
                        }
                    })
                    .collect())
            })
            .await?;
        let mut done = Reconciled {
            looked_at: unfinished.len(),
            ..Reconciled::default()
        };
        for payment in unfinished {
            if let Err(error) = self.reconcile_one(&payment, everything, &mut done).await {
                tracing::error!(payment = %payment.id, %error, "payment not reconciled; next round");
            }
        }
        self.observe_stuck().await;
        Ok(done)
    }

    async fn reconcile_one(
        &self,
        payment: &PaymentRecord,
        at_start: bool,
        done: &mut Reconciled,
    ) -> Result<(), GatewayError> {
        if payment.status == PaymentStatus::Pending {
            self.spawn_execution(payment.id.clone());
            done.resent += 1;
            return Ok(());
        }
        let node = payment
            .node
            .as_deref()
            .and_then(|n| self.inner.pool.get(n).ok());
        let Some(node) = node else {
            let reason = format!(
                "node {} is not in the pool",
                payment.node.as_deref().unwrap_or("(none)")
            );
            if self.mark_stuck(payment, Some(&reason)).await? {
                tracing::warn!(payment = %payment.id, %reason, "payment stuck: an operator decides");
                metrics::counter!("fulgur_payments_stuck_total").increment(1);
                done.stuck += 1;
            }
            return Ok(());
        };
        if payment.status == PaymentStatus::Stuck {
            self.mark_stuck(payment, None).await?;
            done.unstuck += 1;
        }
        match node
            .payment(&payment.payment_hash)
            .map(|p| (p.state, p.fee_msat, p.preimage))
        {
            Some((PaymentState::Succeeded, fee, preimage)) => {
                self.settle_succeeded(node.name(), &payment.payment_hash, fee, preimage)
                    .await?;
                done.settled += 1;
            }
            Some((PaymentState::Failed { reason }, _, _)) => {
                self.fail_by_hash(node.name(), &payment.payment_hash, &reason)
                    .await?;
                done.failed += 1;
            }
            // At start, the node's pending record may be one its channel state never
            // persisted (a crash between the two): make sure the node really has it. Never
            // later: a payment still pending on a live node is in the network (a resend
            // could fail it while its HTLC is out, or pay twice); it is only looked at
            // again after another quiet period.
            Some((PaymentState::Pending, _, _)) if at_start => {
                self.resume_in_background(node, payment.clone());
                done.resent += 1;
            }
            Some((PaymentState::Pending, _, _)) => {
                self.touch(&payment.id).await?;
            }
            None => {
                // Marked in flight, but the node never received the order: send it.
                let id = payment.id.clone();
                self.inner
                    .store
                    .write(move |sql| {
                        sql.execute(
                            "UPDATE payments SET status = 'pending' WHERE id = $1 \
                             AND status = 'in_flight'",
                            &[id.as_str().into()],
                        )
                    })
                    .await?;
                self.spawn_execution(payment.id.clone());
                done.resent += 1;
            }
        }
        Ok(())
    }

    /// Makes sure a payment the node has pending is in its hands (a crash can leave a
    /// pending record the channel state never persisted); in the background, bounded like
    /// executions.
    fn resume_in_background(&self, node: Arc<dyn LightningNode>, payment: PaymentRecord) {
        let gateway = self.clone();
        tokio::spawn(async move {
            let Ok(_permit) = Arc::clone(&gateway.inner.executions).acquire_owned().await else {
                return;
            };
            let sent = node
                .resume_payment(
                    &payment.bolt11,
                    payment.amount_override(),
                    Some(payment.max_fee_msat),
                )
                .await;
            if let Err(error) = gateway.after_send(&payment.id, sent).await {
                tracing::error!(payment = %payment.id, %error, "resuming a payment failed");
            }
        });
    }

    /// Moves a payment's update time, so that rounds rotate through what they look at
    /// instead of finding the same unfinished ones first every time.
    async fn touch(&self, id: &str) -> Result<(), GatewayError> {
        let (id, now) = (id.to_string(), self.now_ms());
        self.inner
            .store
            .write(move |sql| {
                sql.execute(
                    "UPDATE payments SET updated_at_ms = $2 WHERE id = $1 AND status = 'in_flight'",
                    &[id.as_str().into(), Value::Int(now)],
                )
            })
            .await?;
        Ok(())
    }

    /// Marks (`Some(reason)`) or clears (`None`) a payment's stuck state; true if it
    /// changed. The update time moves, so the next look waits a quiet period again.
    async fn mark_stuck(
        &self,
        payment: &PaymentRecord,
        reason: Option<&str>,
    ) -> Result<bool, GatewayError> {
        let (id, reason, now) = (
            payment.id.clone(),
            reason.map(str::to_string),
            self.now_ms(),
        );
        let changed = self
            .inner
            .store
            .write(move |sql| match reason {
                Some(reason) => sql.execute(
                    "UPDATE payments SET stuck_since_ms = $2, stuck_reason = $3, \
                     updated_at_ms = $2 WHERE id = $1 AND status = 'in_flight' \
                     AND stuck_since_ms IS NULL",
                    &[id.as_str().into(), Value::Int(now), reason.into()],
                ),
                None => sql.execute(
                    "UPDATE payments SET stuck_since_ms = NULL, stuck_reason = NULL, \
                     updated_at_ms = $2 WHERE id = $1 AND stuck_since_ms IS NOT NULL",
                    &[id.as_str().into(), Value::Int(now)],
                ),
            })
            .await?;
        Ok(changed > 0)
    }

    /// The number of stuck payments, as the gauge `fulgur_payments_stuck`.
    async fn observe_stuck(&self) {
        let count = self
            .inner
            .store
            .read(|sql| {
                sql.query_one(
                    "SELECT COUNT(*) AS stuck FROM payments WHERE status = 'in_flight' \
                     AND stuck_since_ms IS NOT NULL",
                    &[],
                )?
                .i64("stuck")
            })
            .await;
        match count {
            Ok(n) => metrics::gauge!("fulgur_payments_stuck").set(n as f64),
            Err(error) => tracing::warn!(%error, "stuck payments not counted"),
        }
    }
}

impl Gateway {
    /// Resumes what a crash interrupted: unfinished payments are reconciled (bounded
    /// rounds, `reconcile.rs`); open invoices a node was paid are credited.
    pub(crate) async fn recover(&self) -> Result<(), GatewayError> {
        self.reconcile_at_start().await?;
        self.recover_invoices().await
    }

    /// Credits invoices a node was paid while the gateway was down: the open ones, and
    /// those that expired or were canceled within the last day (money can still arrive
    /// for them), in pages; never the whole history. One that cannot be credited is
    /// logged, and start goes on.
    async fn recover_invoices(&self) -> Result<(), GatewayError> {
        const PAGE: i64 = 1_000;
        const LATE_MONEY_MS: i64 = 24 * 3_600_000;
        let since = self.now_ms() - LATE_MONEY_MS;
        let mut after = String::new();
        loop {
            let cursor = after.clone();
            let page: Vec<(String, String, String)> = self
                .inner
                .store
                .read(
                    move |sql| -> Result<Vec<(String, String, String)>, GatewayError> {
                        let rows = sql.query(
                            "SELECT id, node_name, payment_hash FROM invoices WHERE id > $1 \
                         AND (status = 'open' OR (status IN ('expired', 'canceled') \
                         AND expires_at_ms >= $2)) ORDER BY id LIMIT $3",
                            &[cursor.as_str().into(), Value::Int(since), Value::Int(PAGE)],
                        )?;
                        Ok(rows
                            .iter()
                            .filter_map(|r| {
                                Some((
                                    r.text("id").ok()?.to_string(),
                                    r.text("node_name").ok()?.to_string(),
                                    r.text("payment_hash").ok()?.to_string(),
                                ))
                            })
                            .collect())
                    },
                )
                .await?;
            let Some((last, _, _)) = page.last() else {
                return Ok(());
            };
            after = last.clone();
            for (id, node_name, hash) in &page {
                let Ok(node) = self.inner.pool.get(node_name) else {
                    continue;
                };
                let Some(info) = node.payment(hash) else {
                    continue;
                };
                if info.direction == node_pool::PaymentDirection::Inbound
                    && info.state == PaymentState::Succeeded
                {
                    let amount = info.amount_msat.unwrap_or(0);
                    if let Err(error) = self.credit_received(node_name, hash, amount).await {
                        tracing::error!(invoice = %id, %error, "a paid invoice not credited at start");
                    }
                }
            }
            if (page.len() as i64) < PAGE {
                return Ok(());
            }
        }
    }
}
