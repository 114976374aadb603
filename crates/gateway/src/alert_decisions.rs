//! Compliance officers' decisions on monitoring alerts, and what they do to the payment
//! an alert holds. Releasing its last open review alert lets the payment go on where it
//! stood: to execution (or settlement, for one of our own invoices) if it was pending, to
//! its approvers if it awaits approval. Rejecting any alert rejects the payment, releases
//! its hold and closes its approval request; the tenant is told the payment cannot be
//! made, never why. A block (no payment was recorded) keeps its alert as the record. A
//! received payment held for review is credited to its account when released; rejected,
//! it stays in the suspense account (returning it needs a refund destination).

use compliance::alerts::Subject;
use compliance::{alerts, Alert, AlertDecision, AlertDraft, AlertFilter};
use controls::{requests, RequestState};
use store::Sql;

use crate::inbound;
use crate::payments::get_payment;
use crate::records::{PaymentRecord, PaymentStatus};
use crate::settlement::{reject_waiting, settle_internal, Waiting};
use crate::{Actor, Gateway, GatewayError};

/// What the payment's side of a decision needs after its transaction.
enum Next {
    Execute(String),
    Finished(Box<PaymentRecord>),
    Nothing,
}

/// The failure the tenant sees on a payment compliance rejected.
const REJECTED_SENTENCE: &str = "this payment cannot be made";

fn reject_payment(
    sql: &mut dyn Sql,
    payment_id: &str,
    event_id: &str,
    now: i64,
) -> Result<Option<PaymentRecord>, GatewayError> {
    let why = ("compliance_rejected", REJECTED_SENTENCE);
    let rejected = reject_waiting(sql, payment_id, Waiting::Review, why, event_id, now)?;
    if rejected.is_some() {
        requests::close(sql, payment_id, RequestState::Rejected, now)?;
    }
    Ok(rejected)
}

/// A released payment with no review alert left: on where it stood.
fn release_payment(
    sql: &mut dyn Sql,
    payment_id: &str,
    event_ids: &(String, String),
    now: i64,
) -> Result<Next, GatewayError> {
    // No review alert holds it now: its status is the stored one.
    let Some(payment) = get_payment(sql, payment_id)? else {
        return Ok(Next::Nothing);
    };
    Ok(match (payment.status, payment.route.as_str()) {
        (PaymentStatus::Pending, "internal") => {
            Next::Finished(settle_internal(sql, &payment, event_ids, now)?)
        }
        (PaymentStatus::Pending, _) => Next::Execute(payment.id),
        // Awaiting approval: the approvers decide next; anything final stays final.
        _ => Next::Nothing,
    })
}

impl Gateway {
    /// Alerts, newest first (platform only: the API never shows them to a tenant).
    pub async fn alerts(&self, filter: AlertFilter) -> Result<Vec<Alert>, GatewayError> {
        Ok(self
            .inner
            .store
            .read(move |sql| alerts::list(sql, &filter))
            .await?)
    }

    /// Records the alert of a payment a rule blocked (no payment was recorded).
    pub(crate) async fn record_blocked(&self, alert: AlertDraft) -> Result<(), GatewayError> {
        let (id, now) = (self.new_id("alr"), self.now_ms());
        self.inner
            .store
            .write(move |sql| alerts::insert(sql, &id, &alert, None, None, now))
            .await?;
        Ok(())
    }

    /// An officer releases or rejects a review alert, with a reason.
    pub async fn decide_alert(
        &self,
        actor: &Actor,
        id: &str,
        decision: AlertDecision,
        reason: &str,
    ) -> Result<Alert, GatewayError> {
        let (actor, id, reason) = (actor.clone(), id.to_string(), reason.to_string());
        let now = self.now_ms();
        let event_ids = (self.new_id("evt"), self.new_id("evt"));
        let (alert, next) = self
            .inner
            .store
            .write(move |sql| {
                let alert = alerts::decide(sql, &actor, &id, decision, &reason, now)?;
                let next = match (Subject::of(&alert), decision) {
                    (None, _) => Next::Nothing,
                    (Some(subject), AlertDecision::Reject) => {
                        alerts::reject_others(sql, &actor, subject, &reason, now)?;
                        match subject {
                            Subject::Payment(payment_id) => {
                                match reject_payment(sql, payment_id, &event_ids.0, now)? {
                                    Some(payment) => Next::Finished(Box::new(payment)),
                                    None => Next::Nothing,
                                }
                            }
                            // Received money cannot be refused: it stays in suspense.
                            Subject::Invoice(_) => Next::Nothing,
                        }
                    }
                    (Some(subject), AlertDecision::Release) if alerts::holds(sql, subject)? => {
                        Next::Nothing
                    }
                    (Some(Subject::Payment(payment_id)), AlertDecision::Release) => {
                        release_payment(sql, payment_id, &event_ids, now)?
                    }
                    (Some(Subject::Invoice(invoice_id)), AlertDecision::Release) => {
                        if let Some(hold) = inbound::held_for_invoice(sql, invoice_id)? {
                            inbound::release_in(sql, &actor, &hold, now)?;
                        }
                        Next::Nothing
                    }
                };
                Ok::<_, GatewayError>((alert, next))
            })
            .await?;
        match next {
            Next::Execute(payment_id) => self.spawn_execution(payment_id),
            Next::Finished(payment) => self.payment_finished(&payment, now),
            Next::Nothing => {}
        }
        Ok(alert)
    }
}
