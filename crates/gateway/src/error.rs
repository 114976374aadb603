//! What the gateway refuses, each with a stable machine code (the API's problem `code`).

use compliance::ComplianceError;
use controls::ControlsError;
use ledger::LedgerError;
use node_pool::{NodeError, PoolError};
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("invalid invoice: {0}")]
    InvalidInvoice(String),
    #[error("the invoice has expired")]
    InvoiceExpired,
    #[error("the invoice is for {invoice}, this gateway runs on {gateway}")]
    WrongNetwork { invoice: String, gateway: String },
    #[error("the invoice has no amount: give amount_msat")]
    AmountRequired,
    #[error("amount_msat {given} differs from the invoice's {invoiced}")]
    AmountMismatch { given: u64, invoiced: u64 },
    #[error("{field} is invalid: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("no account {0}")]
    UnknownAccount(String),
    #[error("account {0} is a system account: it cannot send or receive payments")]
    NotCustomerAccount(String),
    #[error("no invoice {0}")]
    UnknownInvoice(String),
    #[error("no payment {0}")]
    UnknownPayment(String),
    #[error("insufficient funds: {available_msat} msat available, {needed_msat} msat needed (amount plus maximum fee)")]
    InsufficientFunds {
        available_msat: i64,
        needed_msat: u64,
    },
    #[error("the invoice is already paid or being paid")]
    AlreadyPaid,
    /// The BOLT11 carries the payment hash of an invoice this gateway issued but is not
    /// that invoice (another amount, payee or signature): a forgery or a corruption.
    #[error("the invoice reuses the payment hash of an invoice issued here but differs from it")]
    InvoiceMismatch,
    #[error("no node can {action} {amount_msat} msat now (best: {best_available_msat} msat)")]
    NoLiquidity {
        action: &'static str,
        amount_msat: u64,
        best_available_msat: u64,
    },
    #[error("the Idempotency-Key was used with a different request")]
    IdempotencyMismatch,
    #[error("the payment was rejected: {0}")]
    Rejected(String),
    #[error("invoice {id} is {status}: only an open invoice can be canceled")]
    InvoiceNotOpen { id: String, status: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("the HSM cannot sign the approval now: {0}")]
    HsmUnavailable(String),
    #[error("no node {0}")]
    UnknownNode(String),
    #[error("node {node} is on the books with public key {registered}, but the node running under that name has {running}: another node cannot take over its account")]
    NodeIdentityMismatch {
        node: String,
        registered: String,
        running: String,
    },
    #[error("node {node} is run by another gateway instance ({owner}) until its lease ends at {until_ms} ms: one instance at a time runs a node")]
    NodeOwnedElsewhere {
        node: String,
        owner: String,
        until_ms: i64,
    },
    #[error("no recovery {0}")]
    UnknownRecovery(String),
    #[error("no inbound hold {0}")]
    UnknownInboundHold(String),
    #[error("inbound hold {0} was decided already")]
    InboundHoldDecided(String),
    #[error("no approval policy is in force: an emergency recovery needs one")]
    NoPolicyInForce,
    #[error("the recovery is blocked: {0}")]
    RecoveryBlocked(String),
    #[error("a recovery of node {0} is already under way")]
    RecoveryInProgress(String),
    #[error("lightning node: {0}")]
    Node(NodeError),
    #[error("ledger: {0}")]
    Ledger(LedgerError),
    /// An approval policy, request or vote, or a velocity limit, refused it.
    #[error(transparent)]
    Controls(ControlsError),
    /// Screening or a list refused it (or the lists are not loaded yet).
    #[error(transparent)]
    Compliance(ComplianceError),
    #[error(transparent)]
    Store(StoreError),
}

impl GatewayError {
    /// Stable, documented, never reworded: clients branch on it.
    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::InvalidInvoice(_) => "invalid_invoice",
            GatewayError::InvoiceExpired => "invoice_expired",
            GatewayError::WrongNetwork { .. } => "wrong_network",
            GatewayError::AmountRequired => "amount_required",
            GatewayError::AmountMismatch { .. } => "amount_mismatch",
            GatewayError::InvalidField { .. } => "invalid_field",
            GatewayError::UnknownAccount(_) => "account_not_found",
            GatewayError::NotCustomerAccount(_) => "not_a_customer_account",
            GatewayError::UnknownInvoice(_) => "invoice_not_found",
            GatewayError::UnknownPayment(_) => "payment_not_found",
            GatewayError::InsufficientFunds { .. } => "insufficient_funds",
            GatewayError::AlreadyPaid => "invoice_already_paid",
            GatewayError::InvoiceMismatch => "invoice_mismatch",
            GatewayError::NoLiquidity { .. } => "no_liquidity",
            GatewayError::IdempotencyMismatch => "idempotency_key_reused",
            GatewayError::Rejected(_) => "payment_rejected",
            GatewayError::InvoiceNotOpen { .. } => "invoice_not_open",
            GatewayError::Forbidden(_) => "forbidden",
            GatewayError::HsmUnavailable(_) => "hsm_unavailable",
            GatewayError::UnknownNode(_) => "node_not_found",
            GatewayError::NodeIdentityMismatch { .. } => "node_identity_mismatch",
            GatewayError::NodeOwnedElsewhere { .. } => "node_owned_elsewhere",
            GatewayError::UnknownRecovery(_) => "recovery_not_found",
            GatewayError::UnknownInboundHold(_) => "inbound_hold_not_found",
            GatewayError::InboundHoldDecided(_) => "inbound_hold_decided",
            GatewayError::NoPolicyInForce => "no_policy_in_force",
            GatewayError::RecoveryBlocked(_) => "blocked_by_policy",
            GatewayError::RecoveryInProgress(_) => "recovery_in_progress",
            GatewayError::Node(_) => "node_error",
            GatewayError::Ledger(_) => "ledger_error",
            GatewayError::Controls(e) => e.code(),
            GatewayError::Compliance(e) => e.code(),
            GatewayError::Store(e) => e.code(),
        }
    }
}

impl From<StoreError> for GatewayError {
    fn from(e: StoreError) -> Self {
        GatewayError::Store(e)
    }
}

impl From<ControlsError> for GatewayError {
    fn from(e: ControlsError) -> Self {
        match e {
            ControlsError::Store(e) => GatewayError::Store(e),
            other => GatewayError::Controls(other),
        }
    }
}

impl From<ComplianceError> for GatewayError {
    fn from(e: ComplianceError) -> Self {
        match e {
            ComplianceError::Store(e) => GatewayError::Store(e),
            other => GatewayError::Compliance(other),
        }
    }
}

impl From<LedgerError> for GatewayError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::InsufficientFunds {
                available_msat,
                needed_msat,
                ..
            } => GatewayError::InsufficientFunds {
                available_msat,
                needed_msat,
            },
            LedgerError::UnknownAccount(id) => GatewayError::UnknownAccount(id),
            LedgerError::Store(e) => GatewayError::Store(e),
            other => GatewayError::Ledger(other),
        }
    }
}

impl From<NodeError> for GatewayError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::InvalidInvoice(reason) => GatewayError::InvalidInvoice(reason),
            NodeError::InvoiceExpired => GatewayError::InvoiceExpired,
            NodeError::AmountRequired => GatewayError::AmountRequired,
            other => GatewayError::Node(other),
        }
    }
}

impl From<PoolError> for GatewayError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::NoCapacity {
                amount_msat,
                best_available_msat,
            } => GatewayError::NoLiquidity {
                action: "move",
                amount_msat,
                best_available_msat,
            },
            PoolError::UnknownNode(name) => GatewayError::UnknownNode(name),
            other => GatewayError::Node(NodeError::Backend(other.to_string())),
        }
    }
}
