//! RFC 9457 problem details: every error the API returns, with a stable machine `code`.

use access::AccessError;
use audit::AuditError;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use compliance::ComplianceError;
use controls::ControlsError;
use gateway::GatewayError;
use serde::Serialize;
use store::StoreError;
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
            | E::RecoveryBlocked(_) => StatusCode::UNPROCESSABLE_ENTITY,
            E::UnknownAccount(_)
            | E::UnknownInvoice(_)
            | E::UnknownPayment(_)
            | E::UnknownNode(_)
            | E::UnknownRecovery(_)
            | E::UnknownInboundHold(_) => StatusCode::NOT_FOUND,
            E::InvoiceNotOpen { .. }
            | E::NodeIdentityMismatch { .. }
            | E::NodeOwnedElsewhere { .. }
            | E::NoPolicyInForce
            | E::RecoveryInProgress(_)
            | E::InboundHoldDecided(_) => StatusCode::CONFLICT,
            E::Forbidden(_) => StatusCode::FORBIDDEN,
            E::Controls(e) => controls_status(e),
            E::Compliance(e) => compliance_status(e),
            E::HsmUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Store(e) => store_status(e),
            E::Node(_) | E::Ledger(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Problem::from_error(status, e.code(), &e)
    }
}

/// The HTTP status of what the approval policy, an approval request or a velocity limit
/// refused.
fn controls_status(e: &ControlsError) -> StatusCode {
    use approvals::ApprovalError as A;
    use ControlsError as E;
    match e {
        E::InvalidField { .. } | E::VelocityLimitExceeded { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        E::UnknownPolicy(_) => StatusCode::NOT_FOUND,
        E::PolicyNotProposed { .. } | E::ApprovalClosed(_) => StatusCode::CONFLICT,
        E::ApprovalRefused(A::Duplicate(_)) => StatusCode::CONFLICT,
        E::Forbidden(_)
        | E::SecondAdminRequired
        | E::ApprovalRefused(
            A::NotInGroup(_)
            | A::UnknownApprover(_)
            | A::HsmSignsItself(_)
            | A::InitiatorMayNotApprove(_),
        ) => StatusCode::FORBIDDEN,
        E::ApprovalRefused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::Store(e) => store_status(e),
    }
}

/// The HTTP status of what screening or a list refused.
fn compliance_status(e: &ComplianceError) -> StatusCode {
    use ComplianceError as E;
    match e {
        E::InvalidField { .. }
        | E::ListRefused(_)
        | E::ListIncomplete(_)
        | E::Blocked
        | E::BlockedBy(_)
        | E::AddressBlocked
        | E::CustomerNotVerified(_)
        | E::RelationshipEnded
        | E::CustomerLimitExceeded { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        E::AlreadyWatched(_) => StatusCode::CONFLICT,
        E::UnknownWatchItem(_)
        | E::UnknownCustomer
        | E::UnknownAlert(_)
        | E::UnknownCase(_)
        | E::UnknownRuleSet(_)
        | E::NoReport(_) => StatusCode::NOT_FOUND,
        E::SecondPersonRequired => StatusCode::FORBIDDEN,
        E::AlertDecided(_)
        | E::AlertInCase(_)
        | E::CaseClosed(_)
        | E::ReportPending(_)
        | E::ReportFiled(_)
        | E::RuleSetNotProposed { .. }
        | E::RuleSetStale { .. }
        | E::NoTransactions => StatusCode::CONFLICT,
        E::Loading => StatusCode::SERVICE_UNAVAILABLE,
        E::Store(e) => store_status(e),
    }
}

impl From<ComplianceError> for Problem {
    fn from(e: ComplianceError) -> Self {
        Problem::from_error(compliance_status(&e), e.code(), &e)
    }
}

/// Retry later (overloaded, unavailable), fix the request (a number no column holds), or
/// our fault.
fn store_status(e: &StoreError) -> StatusCode {
    match e {
        StoreError::Overloaded | StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        StoreError::OutOfRange { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        Problem::from_error(store_status(&e), e.code(), &e)
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
            E::Secrets(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Store(e) => store_status(e),
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
        } else if code == "no_liquidity" {
            // The figures would let a tenant map the platform's liquidity.
            "no node can move this amount now; retry later or split the amount".to_string()
        } else if code == "invalid_invoice" {
            // The decoder's own words (bech32, checksum internals) stay in the log.
            tracing::debug!(error = %e, "invalid invoice");
            "bolt11 is not a valid BOLT11 invoice (encoding, checksum or signature)".to_string()
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

/// The problems every operation of a kind can answer, added to the OpenAPI document once
/// here rather than repeated in each annotation: a guarded operation (one that needs the
/// bearer credential) the guard's refusals — 401, 403, 429, 503 —, an operation with a
/// body what [`crate::extract::JsonBody`] answers (400, 413, 415, 422), one with a query
/// what [`crate::extract::QueryParams`] answers (400), one with a path parameter 404 (the
/// id is looked up; another tenant's is absent to the caller). An operation's own
/// description of one of these is kept. Every problem is served as
/// `application/problem+json`, and the document says so.
pub(crate) struct ProblemResponses;

/// (status, description) the guard answers before any handler runs.
const GUARD_PROBLEMS: [(&str, &str); 4] = [
    (
        "401",
        "`unauthenticated`: no valid credential was presented",
    ),
    (
        "403",
        "`forbidden`: the credential lacks the operation's scope; `platform_only`: a \
         tenant's credential on a platform endpoint",
    ),
    (
        "429",
        "`rate_limited` (the credential's rate), `too_many_auth_failures` (failed \
         authentications from this address with this credential) or `quota_exceeded` \
         (the tenant's daily calls); retry after `Retry-After` seconds",
    ),
    (
        "503",
        "`auth_unavailable`, `store_unavailable`, `overloaded` or `hsm_unavailable`: \
         retry with backoff",
    ),
];

const BODY_PROBLEMS: [(&str, &str); 4] = [
    (
        "400",
        "`malformed_json` or `unreadable_body`: the body is not JSON",
    ),
    ("413", "`body_too_large`: the body is over 64 KiB"),
    (
        "415",
        "`unsupported_media_type`: the body is not `application/json`",
    ),
    (
        "422",
        "`invalid_field`: a field is missing, unknown, of the wrong type or out of range",
    ),
];

const QUERY_PROBLEM: (&str, &str) = (
    "400",
    "`invalid_query`: a query parameter is missing, unknown or of the wrong type",
);

const PATH_PROBLEM: (&str, &str) = (
    "404",
    "no such resource (or one the credential may not see)",
);

impl utoipa::Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        let guarded_by_default = openapi.security.as_deref().is_some_and(needs_credential);
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for op in operations.into_iter().flatten() {
                let responses = &mut op.responses.responses;
                for response in responses.values_mut() {
                    if let utoipa::openapi::RefOr::T(response) = response {
                        serve_as_problem(response);
                    }
                }
                let mut add = |(status, description): (&str, &str)| {
                    responses
                        .entry(status.to_string())
                        .or_insert_with(|| problem_response(status, description).into());
                };
                let guarded = op
                    .security
                    .as_deref()
                    .map_or(guarded_by_default, needs_credential);
                if guarded {
                    GUARD_PROBLEMS.into_iter().for_each(&mut add);
                }
                if op.request_body.is_some() {
                    BODY_PROBLEMS.into_iter().for_each(&mut add);
                }
                let params = op.parameters.as_deref().unwrap_or_default();
                if params.iter().any(|p| p.parameter_in == ParameterIn::Query) {
                    add(QUERY_PROBLEM);
                }
                if params.iter().any(|p| p.parameter_in == ParameterIn::Path) {
                    add(PATH_PROBLEM);
                }
            }
        }
    }
}

/// Some requirement must be met and none is empty (an empty one admits anyone).
fn needs_credential(requirements: &[utoipa::openapi::security::SecurityRequirement]) -> bool {
    !requirements.is_empty() && !requirements.contains(&Default::default())
}

fn problem_content() -> utoipa::openapi::Content {
    utoipa::openapi::Content::new(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
}

fn problem_response(status: &str, description: &str) -> utoipa::openapi::Response {
    let mut response = utoipa::openapi::Response::new(description);
    response
        .content
        .insert("application/problem+json".to_string(), problem_content());
    if status == "429" {
        let seconds = utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::Integer)
            .minimum(Some(1));
        let mut header = utoipa::openapi::Header::new(seconds);
        header.description = Some("Seconds to wait before retrying.".to_string());
        response.headers.insert("Retry-After".to_string(), header);
    }
    response
}

/// A response documented with a `Problem` body as `application/json` is served as
/// `application/problem+json`.
fn serve_as_problem(response: &mut utoipa::openapi::Response) {
    let is_problem = response
        .content
        .get("application/json")
        .is_some_and(|c| c.schema == problem_content().schema);
    if is_problem {
        response.content.shift_remove("application/json");
        response
            .content
            .insert("application/problem+json".to_string(), problem_content());
    }
}
