//! Node events into the books. The sink is given to each node at start (before the
//! gateway exists: nodes start first), and the builder attaches it to the gateway it
//! builds; until then it refuses events, which the node keeps and offers again.

use std::sync::{Arc, OnceLock, Weak};

use async_trait::async_trait;
use ledger::{post, JournalEntry, Posting};
use node_pool::{EventSink, NodeEvent};

use crate::system::{node_account, FEE_INCOME_ACCOUNT};
use crate::Gateway;

/// Holds the gateway weakly: nodes hold the sink and the gateway holds the nodes, and a
/// strong cycle would keep both alive past their runtime.
#[derive(Default)]
pub struct GatewaySink {
    gateway: OnceLock<Weak<crate::Inner>>,
}

impl GatewaySink {
    /// A sink for nodes started before the gateway; see `GatewayBuilder::event_sink`.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn attach(&self, gateway: &Gateway) {
        let _ = self.gateway.set(Arc::downgrade(&gateway.inner));
    }
}

#[async_trait]
impl EventSink for GatewaySink {
    async fn handle(&self, event: &NodeEvent) -> Result<(), String> {
        let moves_money = matches!(
            event,
            NodeEvent::PaymentReceived { .. }
                | NodeEvent::PaymentSucceeded { .. }
                | NodeEvent::PaymentFailed { .. }
                | NodeEvent::PaymentForwarded { .. }
        );
        if !moves_money {
            return Ok(());
        }
        let Some(inner) = self.gateway.get().and_then(Weak::upgrade) else {
            return Err("gateway not running".into());
        };
        let gateway = &Gateway { inner };
        let handled = match event {
            NodeEvent::PaymentReceived {
                node,
                payment_hash,
                amount_msat,
            } => {
                gateway
                    .credit_received(node, payment_hash, *amount_msat)
                    .await
            }
            NodeEvent::PaymentSucceeded {
                node,
                payment_hash,
                preimage,
                fee_msat,
            } => {
                // ldk-node's fee is optional; its payment record may know it.
                let fee = fee_msat.or_else(|| {
                    let node = gateway.pool().get(node).ok()?;
                    node.payment(payment_hash)?.fee_msat
                });
                gateway
                    .settle_succeeded(node, payment_hash, fee, preimage.clone())
                    .await
            }
            NodeEvent::PaymentFailed {
                node,
                payment_hash: Some(hash),
                reason,
            } => {
                // A failure of an earlier attempt at the same invoice must not fail the
                // attempt now in flight: only fail if the node's record is failed too.
                let still_live = gateway
                    .pool()
                    .get(node)
                    .ok()
                    .and_then(|n| n.payment(hash))
                    .is_some_and(|p| !matches!(p.state, node_pool::PaymentState::Failed { .. }));
                if still_live {
                    tracing::warn!(%hash, "failure event for a payment the node still has live; ignored");
                    Ok(())
                } else {
                    gateway.fail_by_hash(node, hash, reason).await
                }
            }
            NodeEvent::PaymentForwarded {
                node,
                fee_earned_msat: Some(fee),
            } if *fee > 0 => gateway.book_forwarding_fee(node, *fee).await,
            _ => Ok(()),
        };
        handled.map_err(|e| e.to_string())
    }
}

impl Gateway {
    /// A node earned a routing fee: the node holds more, booked as fee income. ldk-node's
    /// forwarding events carry no id, so a crash between this commit and the event's
    /// acknowledgement would book it twice; the books check would show that node off by
    /// the fee.
    async fn book_forwarding_fee(
        &self,
        node: &str,
        fee_msat: u64,
    ) -> Result<(), crate::GatewayError> {
        let (name, now, id) = (node.to_string(), self.now_ms(), self.new_id("fwd"));
        self.inner
            .store
            .write(move |sql| {
                let fee = i64::try_from(fee_msat).expect("bounded by channel capacity");
                post(
                    sql,
                    &JournalEntry {
                        id,
                        kind: "forwarding_fee".into(),
                        reference: Some(name.clone()),
                        postings: vec![
                            Posting::new(&node_account(&name), "forwarding_fee", -fee),
                            Posting::new(FEE_INCOME_ACCOUNT, "forwarding_fee", fee),
                        ],
                    },
                    now,
                )
            })
            .await?;
        crate::observe::routing_fee_earned(node, fee_msat);
        Ok(())
    }
}
