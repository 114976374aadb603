/// Why a policy, an approver or a signature is refused; each variant names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("invalid policy: {0}")]
    InvalidPolicy(String),
    #[error("invalid approver key: {0}")]
    InvalidKey(String),
    #[error("no approver {0}")]
    UnknownApprover(String),
    #[error("approver {0} is in no group this payment's rule asks for")]
    NotInGroup(String),
    #[error("approver {0} has already decided on this payment")]
    Duplicate(String),
    #[error("the payment intent expired at {expires_at_ms} (now {now_ms})")]
    Expired { expires_at_ms: i64, now_ms: i64 },
    #[error("the signature of {0} does not verify over the payment intent")]
    BadSignature(String),
    #[error("{0} initiated this payment and this rule does not let the initiator approve")]
    InitiatorMayNotApprove(String),
    #[error("approver {0} is an HSM key: it signs by itself once the human quorum is met")]
    HsmSignsItself(String),
}
