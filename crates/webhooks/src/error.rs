//! What the webhook service refuses, each with a stable machine code.

use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{field} is invalid: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("no webhook subscription {0}")]
    UnknownSubscription(String),
    #[error("no webhook delivery {0}")]
    UnknownDelivery(String),
    #[error("tenant {tenant_id} already has {limit} webhook subscriptions, the most allowed")]
    TooManySubscriptions { tenant_id: String, limit: usize },
    /// The vault holding signing secrets failed (key store or store trouble).
    #[error("signing secrets: {0}")]
    Secrets(String),
    #[error(transparent)]
    Store(StoreError),
}

impl WebhookError {
    /// Stable, documented, never reworded: clients branch on it.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::InvalidField { .. } => "invalid_field",
            WebhookError::UnknownSubscription(_) => "webhook_not_found",
            WebhookError::UnknownDelivery(_) => "webhook_delivery_not_found",
            WebhookError::TooManySubscriptions { .. } => "too_many_webhooks",
            WebhookError::Secrets(_) => "secrets_unavailable",
            WebhookError::Store(e) => e.code(),
        }
    }
}

impl From<StoreError> for WebhookError {
    fn from(e: StoreError) -> Self {
        WebhookError::Store(e)
    }
}
