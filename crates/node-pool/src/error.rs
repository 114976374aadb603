//! Errors a caller can act on.

/// What went wrong with a node operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("the invoice cannot be parsed: {0}")]
    InvalidInvoice(String),
    #[error("the invoice is for {invoice}, this node runs on {node}")]
    WrongNetwork { invoice: String, node: String },
    #[error("the invoice expired")]
    InvoiceExpired,
    #[error("the invoice has no amount; give one")]
    AmountRequired,
    #[error("the amount {amount_msat} msat is invalid: {reason}")]
    InvalidAmount {
        amount_msat: u64,
        reason: &'static str,
    },
    #[error(
        "not enough outbound liquidity: {amount_msat} msat needed, {available_msat} msat sendable"
    )]
    InsufficientLiquidity {
        amount_msat: u64,
        available_msat: u64,
    },
    /// No route has room for the payment now (e.g. every channel's HTLC slots are in use);
    /// retrying shortly may succeed.
    #[error("no route can carry the payment right now; retry later")]
    NoRouteNow,
    #[error("not enough on-chain funds to open the channel")]
    InsufficientOnchainFunds,
    #[error("cannot reach peer {0}")]
    PeerUnreachable(String),
    #[error("the on-chain address is invalid: {0}")]
    InvalidAddress(String),
    #[error("{0} channels are still open; close them first")]
    ChannelsStillOpen(usize),
    #[error("no channel {0}")]
    UnknownChannel(String),
    #[error("the invoice description is invalid: {0}")]
    InvalidDescription(String),
    #[error("the node is not running")]
    NotRunning,
    #[error("the node could not be built: {0}")]
    Build(String),
    #[error("the node backend failed: {0}")]
    Backend(String),
}

impl From<ldk_node::NodeError> for NodeError {
    fn from(e: ldk_node::NodeError) -> Self {
        use ldk_node::NodeError as E;
        match e {
            E::NotRunning => NodeError::NotRunning,
            E::InsufficientFunds => NodeError::InsufficientOnchainFunds,
            E::ConnectionFailed => NodeError::PeerUnreachable(e.to_string()),
            E::InvalidInvoice => NodeError::InvalidInvoice(e.to_string()),
            E::InvalidAmount => NodeError::InvalidAmount {
                amount_msat: 0,
                reason: "rejected by the node",
            },
            E::PaymentSendingFailed => NodeError::NoRouteNow,
            E::InvalidChannelId => NodeError::UnknownChannel(e.to_string()),
            E::InvoiceCreationFailed => NodeError::InvalidDescription(e.to_string()),
            other => NodeError::Backend(other.to_string()),
        }
    }
}

/// What went wrong choosing a node from the pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("no node named {0}")]
    UnknownNode(String),
    #[error("a node named {0} is already in the pool")]
    DuplicateName(String),
    #[error("no healthy node can send {amount_msat} msat (largest sendable: {best_available_msat} msat)")]
    NoCapacity {
        amount_msat: u64,
        best_available_msat: u64,
    },
}
