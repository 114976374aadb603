//! What the controls refuse, each with a stable machine code (the API's problem `code`).

use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ControlsError {
    #[error("{0}")]
    Forbidden(String),
    #[error("{field} is invalid: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("no approval policy version {0}")]
    UnknownPolicy(i64),
    #[error(
        "approval policy version {version} is {state}: only a proposed version can be approved"
    )]
    PolicyNotProposed { version: i64, state: &'static str },
    #[error("a policy change is approved by a second administrator, not by its proposer")]
    SecondAdminRequired,
    #[error("vote refused: {0}")]
    ApprovalRefused(approvals::ApprovalError),
    #[error("the approval request is {0}: it takes no more votes")]
    ApprovalClosed(&'static str),
    #[error("the account's {window} limit is {limit_eur_cents} EUR cents; with this payment it would have sent {would_be_eur_cents}")]
    VelocityLimitExceeded {
        window: &'static str,
        limit_eur_cents: u64,
        would_be_eur_cents: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ControlsError {
    /// Stable, documented, never reworded: clients branch on it.
    pub fn code(&self) -> &'static str {
        use approvals::ApprovalError as A;
        match self {
            ControlsError::Forbidden(_) => "forbidden",
            ControlsError::InvalidField { .. } => "invalid_field",
            ControlsError::UnknownPolicy(_) => "policy_not_found",
            ControlsError::PolicyNotProposed { .. } => "policy_not_proposed",
            ControlsError::SecondAdminRequired => "second_admin_required",
            ControlsError::ApprovalRefused(e) => match e {
                A::Duplicate(_) => "approval_duplicate",
                A::Expired { .. } => "approval_expired",
                A::BadSignature(_) => "approval_bad_signature",
                A::InitiatorMayNotApprove(_) => "approval_self_approval",
                A::NotInGroup(_) | A::UnknownApprover(_) | A::HsmSignsItself(_) => {
                    "approval_not_an_approver"
                }
                A::InvalidPolicy(_) | A::InvalidKey(_) => "invalid_field",
            },
            ControlsError::ApprovalClosed(_) => "approval_closed",
            ControlsError::VelocityLimitExceeded { .. } => "velocity_limit_exceeded",
            ControlsError::Store(e) => e.code(),
        }
    }
}
