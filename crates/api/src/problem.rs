//! RFC 9457 problem details: every error the API returns, with a stable machine `code`.

use access::AccessError;
use audit::AuditError;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use gateway::GatewayError;
use serde::Serialize;
use webhooks::WebhookError;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`about:blank` plus `code` here).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code: clients branch on it.
    pub code: String,
}

impl Problem {
    /// 422 `invalid_field`: the detail says which field and what it must be.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", detail)
    }

    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_string(),
        }
    }
}

/// The problem code, attached to the response for the audit of failed calls.
#[derive(Debug, Clone)]
pub(crate) struct ProblemCode(pub String);

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        response.extensions_mut().insert(ProblemCode(self.code));
        response
    }
}

impl From<GatewayError> for Problem {
    fn from(e: GatewayError) -> Self {
        use GatewayError as E;
        let status = match &e {
            E::InvalidInvoice(_)
            | E::InvoiceExpired
            | E::WrongNetwork { .. }
            | E::AmountRequired
            | E::AmountMismatch { .. }
            | E::InvalidField { .. }
            | E::NotCustomerAccount(_)
            | E::InsufficientFunds { .. }
            | E::AlreadyPaid
            | E::InvoiceMismatch
            | E::NoLiquidity { .. }
            | E::IdempotencyMismatch
            | E::Rejected(_)
            | E::VelocityLimitExceeded { .. }
            | E::RecoveryBlocked(_) => StatusCode::UNPROCESSABLE_ENTITY,
            E::UnknownAccount(_)
            | E::UnknownInvoice(_)
            | E::UnknownPayment(_)
            | E::UnknownPolicy(_)
            | E::UnknownNode(_)
            | E::UnknownRecovery(_) => StatusCode::NOT_FOUND,
            E::InvoiceNotOpen { .. }
            | E::PolicyNotProposed { .. }
            | E::NoPolicyInForce
            | E::RecoveryInProgress(_) => StatusCode::CONFLICT,
            E::Forbidden(_) | E::SecondAdminRequired => StatusCode::FORBIDDEN,
            E::ApprovalRefused(approvals::ApprovalError::Duplicate(_)) | E::ApprovalClosed(_) => {
                StatusCode::CONFLICT
            }
            E::ApprovalRefused(
                approvals::ApprovalError::NotInGroup(_)
                | approvals::ApprovalError::UnknownApprover(_)
                | approvals::ApprovalError::HsmSignsItself(_)
                | approvals::ApprovalError::InitiatorMayNotApprove(_),
            ) => StatusCode::FORBIDDEN,
            E::ApprovalRefused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            E::HsmUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Store(_) if matches!(e.code(), "overloaded" | "store_unavailable") => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            E::Store(store::StoreError::OutOfRange { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            E::Node(_) | E::Ledger(_) | E::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Problem::from_error(status, e.code(), &e)
    }
}

impl From<WebhookError> for Problem {
    fn from(e: WebhookError) -> Self {
        use WebhookError as E;
        let status = match &e {
            E::InvalidField { .. } | E::TooManySubscriptions { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            E::UnknownSubscription(_) | E::UnknownDelivery(_) => StatusCode::NOT_FOUND,
            E::Store(_) if matches!(e.code(), "overloaded" | "store_unavailable") => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            E::Secrets(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Problem::from_error(status, e.code(), &e)
    }
}

impl From<AccessError> for Problem {
    fn from(e: AccessError) -> Self {
        use AccessError as E;
        let (status, code) = match &e {
            E::InvalidInput(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            E::UnknownTenant => (StatusCode::UNPROCESSABLE_ENTITY, "tenant_not_found"),
            E::NotFound => (StatusCode::NOT_FOUND, "apikey_not_found"),
            E::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            E::Conflict(_) => (StatusCode::CONFLICT, "apikey_not_active"),
            E::Store(store::StoreError::Overloaded) => {
                (StatusCode::SERVICE_UNAVAILABLE, "overloaded")
            }
            E::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        };
        Problem::from_error(status, code, &e)
    }
}

impl From<AuditError> for Problem {
    fn from(e: AuditError) -> Self {
        Problem::from_error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", &e)
    }
}

impl Problem {
    /// The problem for a domain error; an internal one's detail goes to the log, not to
    /// the client.
    fn from_error(status: StatusCode, code: &str, e: &dyn std::fmt::Display) -> Self {
        let detail = if status.is_server_error() {
            // Driver, PKCS#11 and node text stays in the log: it names internals.
            tracing::error!(error = %e, code, "server-side error");
            server_error_sentence(code).to_string()
        } else if code == "value_out_of_range" {
            "a number in the request is too large".to_string()
        } else {
            e.to_string()
        };
        Problem::new(status, code, detail)
    }
}

/// The fixed sentence a client reads for a server-side failure.
fn server_error_sentence(code: &str) -> &'static str {
    match code {
        "overloaded" => "the service is overloaded; retry with backoff",
        "store_unavailable" => "the database cannot be reached now; retry",
        "hsm_unavailable" => "the key store cannot sign now; retry",
        _ => "internal error; see the server log",
    }
}
