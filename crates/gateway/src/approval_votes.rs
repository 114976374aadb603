//! Votes on held payments and recoveries. A person's vote is checked against the policy
//! version that held the payment ([`approvals::check_vote`]); a rejection rejects the
//! payment and releases its hold; once the human part of the quorum is met the HSM keys
//! sign (through the [`ApprovalSigner`]), and a met quorum sends the payment on (or starts
//! the recovery). A request not decided before its intent expires is rejected and its hold
//! released.

use std::sync::Arc;

use approvals::{hsm_signers_due, is_met, Ballot, Policy, Vote};
use audit::AuditAction;
use controls::requests::{self, VoteRecord};
use controls::{ApprovalRequest, ControlsError, RequestState};
use store::{Sql, Value};

use crate::records::{PaymentRecord, PaymentStatus};
use crate::recoveries::RecoveryState;
use crate::settlement::{reject_waiting, settle_internal, Waiting};
use crate::{Actor, Gateway, GatewayError};

/// Signs for Fulgur's own approvers: `message` with the key store's key `label`, as hex
/// (secp256k1 ECDSA over SHA-256, compact). Blocking (an HSM call).
pub trait ApprovalSigner: Send + Sync {
    fn sign(&self, label: &str, message: &[u8]) -> Result<String, String>;
}

/// The key store signs for the HSM approvers: ECDSA over the SHA-256 of the message,
/// compact, hex.
pub struct KeyStoreApprovalSigner(pub Arc<dyn keystore::KeyStore>);

impl ApprovalSigner for KeyStoreApprovalSigner {
    fn sign(&self, label: &str, message: &[u8]) -> Result<String, String> {
        keystore::sign_message(self.0.as_ref(), label, message)
            .map(hex::encode)
            .map_err(|e| format!("{label}: {e}"))
    }
}

/// What an approved payment became.
enum Released {
    ToExecution,
    Settled(Box<PaymentRecord>),
    /// An approved recovery: carried out by [`Gateway::drive_recoveries`].
    Recovery,
    Nothing,
}

/// Requests expired per sweep at most.
const EXPIRY_BATCH: i64 = 256;

/// A person's vote as the API receives it.
#[derive(Debug, Clone)]
pub struct NewVote {
    pub payment_id: String,
    pub approver_id: String,
    pub vote: Vote,
    pub signature_hex: String,
}

/// Ends a pending request as `state` and rejects its payment, releasing the hold (or its
/// recovery; then there is no payment to return).
fn close_rejected(
    sql: &mut dyn Sql,
    payment_id: &str,
    state: RequestState,
    code: &str,
    reason: &str,
    event_id: &str,
    now: i64,
) -> Result<Option<PaymentRecord>, GatewayError> {
    if !requests::close(sql, payment_id, state, now)? {
        return Ok(None);
    }
    if crate::recoveries::decide_in(sql, payment_id, RecoveryState::Rejected, Some(reason), now)? {
        Actor::system("approvals").audit(sql, now, None, "recovery.rejected", payment_id, None)?;
        return Ok(None);
    }
    reject_waiting(
        sql,
        payment_id,
        Waiting::Approval,
        (code, reason),
        event_id,
        now,
    )
}

impl Gateway {
    /// Casts a person's vote. A rejection rejects the payment; an approval may complete
    /// the quorum (with the HSM keys), which sends the payment on. Returns the request.
    pub async fn vote(&self, actor: &Actor, new: NewVote) -> Result<ApprovalRequest, GatewayError> {
        let id = new.payment_id.clone();
        let (request, policy) = self
            .inner
            .store
            .read(move |sql| requests::with_policy(sql, &id))
            .await?
            .filter(|(r, _)| actor.scope.allows(&r.tenant_id))
            .ok_or_else(|| GatewayError::UnknownPayment(new.payment_id.clone()))?;
        let now = self.now_ms();
        let ballot = Ballot {
            approver_id: &new.approver_id,
            vote: new.vote,
            signature_hex: &new.signature_hex,
            caller_identity: &actor.origin.actor_id,
            caller_person: &actor.identity,
        };
        request.check_ballot(&policy, &ballot, now)?;
        let event_id = self.new_id("evt");
        let (owned, actor_owned) = (new.clone(), actor.clone());
        let tenant = request.tenant_id.clone();
        let rejected = self
            .inner
            .store
            .write(move |sql| {
                let (new, actor) = (owned, actor_owned);
                let vote = VoteRecord {
                    payment_id: &new.payment_id,
                    approver_id: &new.approver_id,
                    vote: new.vote,
                    signature: &new.signature_hex,
                    credential: &actor.origin.actor_id,
                };
                requests::record_vote(sql, &vote, now)?;
                let details = Some(format!(
                    "approver={} vote={}",
                    new.approver_id,
                    new.vote.as_str()
                ));
                actor.audit(
                    sql,
                    now,
                    Some(&tenant),
                    "approval.vote",
                    &new.payment_id,
                    details,
                )?;
                if new.vote == Vote::Reject {
                    let reason = format!("rejected by approver {}", new.approver_id);
                    return close_rejected(
                        sql,
                        &new.payment_id,
                        RequestState::Rejected,
                        "rejected_by_approver",
                        &reason,
                        &event_id,
                        now,
                    );
                }
                Ok(None)
            })
            .await?;
        if let Some(payment) = rejected {
            self.payment_finished(&payment, now);
        } else if let Err(error) = self.advance(&new.payment_id).await {
            // The vote is recorded; the sweep completes the quorum once the HSM answers.
            tracing::warn!(payment_id = %new.payment_id, %error, "approval not completed now; the sweep retries");
        }
        self.approval(&actor.scope, &new.payment_id).await
    }

    /// After an approval: the HSM keys sign once the human part is met, and a met quorum
    /// releases the payment to execution.
    async fn advance(&self, payment_id: &str) -> Result<(), GatewayError> {
        let id = payment_id.to_string();
        let Some((request, policy)) = self
            .inner
            .store
            .read(move |sql| requests::with_policy(sql, &id))
            .await?
        else {
            return Ok(());
        };
        if request.state != RequestState::Pending {
            return Ok(());
        }
        let mut signed = request.approvers();
        let due: Vec<String> = hsm_signers_due(&policy, &request.requirement, &signed)
            .into_iter()
            .map(str::to_string)
            .collect();
        for approver_id in due {
            self.hsm_sign(&request, &policy, &approver_id).await?;
            signed.insert(approver_id);
        }
        if !is_met(&policy, &request.requirement, &signed) {
            return Ok(());
        }
        let (id, now) = (payment_id.to_string(), self.now_ms());
        let event_ids = (self.new_id("evt"), self.new_id("evt"));
        let released = self
            .inner
            .store
            .write(move |sql| {
                if !requests::close(sql, &id, RequestState::Approved, now)? {
                    return Ok::<_, GatewayError>(Released::Nothing);
                }
                let system = Actor::system("approvals");
                system.audit(sql, now, None, "approval.approved", &id, None)?;
                if crate::recoveries::decide_in(sql, &id, RecoveryState::Closing, None, now)? {
                    return Ok(Released::Recovery);
                }
                // One of our own invoices settles inside the ledger; anything else goes
                // to execution.
                let released = sql.query_opt(
                    &format!(
                        "UPDATE payments SET status = 'pending', updated_at_ms = $2 \
                         WHERE id = $1 AND status = 'awaiting_approval' RETURNING {}",
                        PaymentRecord::COLUMNS
                    ),
                    &[id.as_str().into(), Value::Int(now)],
                )?;
                let Some(row) = released else {
                    return Ok(Released::Nothing);
                };
                let payment = PaymentRecord::from_row(&row)?;
                if payment.route != "internal" {
                    return Ok(Released::ToExecution);
                }
                settle_internal(sql, &payment, &event_ids, now).map(Released::Settled)
            })
            .await?;
        match released {
            Released::ToExecution => self.spawn_execution(payment_id.to_string()),
            Released::Settled(payment) => self.payment_finished(&payment, now),
            Released::Recovery => self.spawn_recovery_step(),
            Released::Nothing => {}
        }
        Ok(())
    }

    /// An HSM approver signs the intent through the key store; the signature is checked
    /// against the policy's key for it before it counts.
    async fn hsm_sign(
        &self,
        request: &ApprovalRequest,
        policy: &Policy,
        approver_id: &str,
    ) -> Result<(), GatewayError> {
        let approver = policy
            .approver(approver_id)
            .ok_or(ControlsError::UnknownPolicy(request.policy_version))?;
        let label = approver.hsm_label.clone().unwrap_or_default();
        let signer =
            self.inner.approval_signer.clone().ok_or_else(|| {
                GatewayError::HsmUnavailable("no approval signer configured".into())
            })?;
        let message = request.intent.canonical(Vote::Approve);
        let to_sign = message.clone();
        let signature = tokio::task::spawn_blocking(move || signer.sign(&label, &to_sign))
            .await
            .map_err(|e| GatewayError::HsmUnavailable(e.to_string()))?
            .map_err(GatewayError::HsmUnavailable)?;
        if !approver.key.verifies(&message, &signature) {
            return Err(GatewayError::HsmUnavailable(format!(
                "the key store's key for {approver_id} is not the one the policy names"
            )));
        }
        let (id, approver_id, now) = (
            request.payment_id.clone(),
            approver_id.to_string(),
            self.now_ms(),
        );
        let tenant = request.tenant_id.clone();
        self.inner
            .store
            .write(move |sql| {
                let vote = VoteRecord {
                    payment_id: &id,
                    approver_id: &approver_id,
                    vote: Vote::Approve,
                    signature: &signature,
                    credential: "hsm",
                };
                match requests::record_vote(sql, &vote, now) {
                    Ok(()) => {
                        let system = Actor::system("approvals");
                        let details = Some(format!("approver={approver_id}"));
                        system.audit(sql, now, Some(&tenant), "approval.hsm_sign", &id, details)?;
                        Ok(())
                    }
                    // Signed already (a sweep and a vote raced), or decided meanwhile: the
                    // quorum check that follows reads the request as it is.
                    Err(ControlsError::ApprovalRefused(approvals::ApprovalError::Duplicate(_)))
                    | Err(ControlsError::ApprovalClosed(_)) => Ok(()),
                    Err(other) => Err(GatewayError::from(other)),
                }
            })
            .await
    }

    /// Completes requests a human has approved but whose HSM signatures are missing (the
    /// HSM was unavailable when the vote came); returns how many were released.
    pub async fn advance_pending(&self) -> Result<usize, GatewayError> {
        let now = self.now_ms();
        let waiting: Vec<String> = self
            .inner
            .store
            .read(move |sql| requests::approved_in_part(sql, now, EXPIRY_BATCH))
            .await?;
        let mut released = 0;
        for id in waiting {
            // One request's trouble (the HSM still down) does not hold up the others.
            if let Err(error) = self.advance(&id).await {
                tracing::warn!(payment_id = %id, %error, "approval still waiting for the HSM");
                continue;
            }
            let state = self.approval(&crate::Scope::All, &id).await?.state;
            if state == RequestState::Approved {
                released += 1;
            }
        }
        Ok(released)
    }

    /// Rejects the held payments whose approvers ran out of time, releasing their holds.
    pub async fn expire_approvals(&self) -> Result<usize, GatewayError> {
        let now = self.now_ms();
        let due: Vec<String> = self
            .inner
            .store
            .read(move |sql| requests::overdue(sql, now, EXPIRY_BATCH))
            .await?;
        let mut expired = 0;
        for id in due {
            let event_id = self.new_id("evt");
            let payment = self
                .inner
                .store
                .write(move |sql| {
                    let payment = close_rejected(
                        sql,
                        &id,
                        RequestState::Expired,
                        "approval_expired",
                        "the approvers did not decide in time",
                        &event_id,
                        now,
                    )?;
                    if payment.is_some() {
                        let system = Actor::system("approvals");
                        system.audit(sql, now, None, "approval.expired", &id, None)?;
                    }
                    Ok::<_, GatewayError>(payment)
                })
                .await?;
            if let Some(payment) = payment {
                debug_assert_eq!(payment.status, PaymentStatus::Rejected);
                self.payment_finished(&payment, now);
                expired += 1;
            }
        }
        Ok(expired)
    }
}
