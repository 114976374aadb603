//! Executing a pending payment: a node is chosen and the payment recorded in flight on it
//! before the node is told to pay, so a crash at any point finds it pending (never sent)
//! or in flight (ask the node). The node's immediate answer is acted on in `after_send`.

use std::sync::Arc;

use node_pool::NodeError;
use store::Value;
use tracing::Instrument;

use crate::records::PaymentStatus;
use crate::settlement::failure_sentence;
use crate::{Gateway, GatewayError, Scope};

impl Gateway {
    /// Executes a pending payment in the background, bounded by the execution semaphore.
    pub(crate) fn spawn_execution(&self, payment_id: String) {
        let gateway = self.clone();
        // In the caller's trace: the execution outlives the request that started it.
        let span = tracing::info_span!("payment.execute", payment_id = %payment_id);
        tokio::spawn(
            async move {
                let Ok(_permit) = Arc::clone(&gateway.inner.executions).acquire_owned().await
                else {
                    return;
                };
                if let Err(error) = gateway.execute(&payment_id).await {
                    tracing::error!(%payment_id, %error, "payment execution failed; recovery retries it");
                }
            }
            .instrument(span),
        );
    }

    /// Picks a node, records the payment in flight on it, then tells the node to pay.
    async fn execute(&self, payment_id: &str) -> Result<(), GatewayError> {
        let payment = self.payment(&Scope::All, payment_id).await?;
        if payment.status != PaymentStatus::Pending {
            return Ok(());
        }
        let node = match self
            .inner
            .pool
            .select_for_payment(payment.amount_msat, None)
        {
            Ok(node) => node,
            Err(e) => {
                let e = GatewayError::from(e);
                return self.fail(payment_id, e.code(), &e.to_string()).await;
            }
        };
        let (id, name, now) = (
            payment_id.to_string(),
            node.name().to_string(),
            self.now_ms(),
        );
        let claimed = self
            .inner
            .store
            .write(move |sql| {
                // Never a payment a compliance review holds, whatever read it as pending.
                sql.execute(
                    &format!(
                        "UPDATE payments SET status = 'in_flight', node_name = $2, \
                         updated_at_ms = $3 WHERE id = $1 AND status = 'pending' AND NOT {}",
                        compliance::alerts::holds_sql("$1")
                    ),
                    &[id.as_str().into(), name.as_str().into(), Value::Int(now)],
                )
            })
            .await?;
        if claimed == 0 {
            return Ok(());
        }
        let sent = node
            .pay_invoice(
                &payment.bolt11,
                payment.amount_override(),
                Some(payment.max_fee_msat),
            )
            .instrument(tracing::info_span!("node.pay_invoice", node = %node.name()))
            .await;
        self.after_send(payment_id, sent).await
    }

    /// Acts on a node's answer to "pay": an error that means nothing left the node fails
    /// the payment and releases its hold; success, or an error that leaves it unclear,
    /// waits for the node's events (or the next recovery).
    pub(crate) async fn after_send(
        &self,
        payment_id: &str,
        sent: Result<String, NodeError>,
    ) -> Result<(), GatewayError> {
        let code = match &sent {
            Ok(_) => return Ok(()),
            Err(NodeError::NoRouteNow) => "no_route",
            Err(NodeError::InsufficientLiquidity { .. }) => "no_liquidity",
            Err(NodeError::InvoiceExpired) => "invoice_expired",
            Err(NodeError::NotRunning) => "node_unavailable",
            Err(
                NodeError::InvalidInvoice(_)
                | NodeError::WrongNetwork { .. }
                | NodeError::AmountRequired
                | NodeError::InvalidAmount { .. },
            ) => "invalid_invoice",
            Err(e) => {
                tracing::warn!(%payment_id, error = %e, "pay call failed ambiguously; awaiting the node");
                return Ok(());
            }
        };
        // The node's own words (liquidity figures, LDK's reasons) stay in the log: the
        // payment's reason is shown to the tenant and sent in webhooks.
        if let Err(error) = &sent {
            tracing::info!(%payment_id, %error, code, "the node refused the payment");
        }
        self.fail(payment_id, code, failure_sentence(code)).await
    }
}
