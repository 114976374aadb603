//! `api`: Fulgur's HTTP API (SPEC §4) — thin axum handlers over [`gateway::Gateway`].
//! JSON in and out, RFC 9457 problems with stable codes, bearer authentication, bounded
//! bodies and request time, OpenAPI 3.1 generated from the handlers at `/v1/openapi.json`.

mod accounts;
mod alerts;
mod apikeys;
mod approval_policies;
mod approvals;
mod audit_log;
mod auth;
mod books;
mod cases;
mod client_addr;
mod compliance_reports;
mod customers;
mod edge;
mod exposition;
mod extract;
mod failure_log;
mod invoices;
mod limits;
mod metrics;
mod nodes;
mod payments;
mod problem;
mod ratelimit;
mod recoveries;
mod rule_sets;
mod screening;
mod sla;
mod tls;
mod trace;
mod usage;
mod webhooks;

use std::time::Duration;

use access::{ApiScope, Audience};
use axum::http::StatusCode;
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use gateway::Gateway;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;

pub use crate::auth::{Auth, Caller, Requirement};
pub use crate::client_addr::{ForwardedHeader, TrustedProxies};
pub use crate::edge::RequestId;
pub use crate::extract::JsonBody;
pub use crate::metrics::{install_recorder, metrics_router};
pub use crate::problem::Problem;
pub use crate::ratelimit::{RateLimitConfig, RateTier};
pub use crate::tls::{ClientAuth, Peer, PeerCert, PlainListener, TlsConfig, TlsError, TlsListener};

/// Largest request body: a payment request with a long invoice fits many times over.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// A request that takes longer is answered 503 (the work it started still completes).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct ApiState {
    pub gateway: Gateway,
    pub webhooks: ::webhooks::Webhooks,
    pub auth: Auth,
}

use crate::problem::ProblemResponses;

#[derive(OpenApi)]
#[openapi(
    info(title = "Fulgur", description = "Enterprise Lightning payments"),
    paths(
        accounts::create_tenant,
        accounts::create_account,
        accounts::list_accounts,
        accounts::get_account,
        accounts::list_entries,
        limits::get_limits,
        limits::put_limits,
        apikeys::create_apikey,
        apikeys::list_apikeys,
        apikeys::get_apikey,
        apikeys::rotate_apikey,
        apikeys::revoke_apikey,
        audit_log::list_audit,
        approval_policies::list_policies,
        approval_policies::propose_policy,
        approval_policies::approve_policy,
        approvals::list_approvals,
        approvals::get_approval,
        approvals::approve,
        approvals::reject,
        recoveries::create_recovery,
        recoveries::list_recoveries,
        recoveries::get_recovery,
        alerts::list_alerts,
        alerts::decide_alert,
        cases::open_case,
        cases::list_cases,
        cases::get_case,
        cases::update_case,
        cases::add_note,
        cases::draft_report,
        cases::export_report,
        cases::file_report,
        compliance_reports::period_report,
        rule_sets::list_rule_sets,
        rule_sets::propose_rules,
        rule_sets::approve_rules,
        customers::create_customer,
        customers::list_customers,
        customers::get_customer,
        customers::update_customer,
        customers::clear_match,
        customers::list_clearances,
        customers::end_relationship,
        screening::screen_names,
        screening::list_versions,
        screening::add_watch_item,
        screening::list_watch_items,
        screening::remove_watch_item,
        usage::get_usage,
        sla::get_sla,
        invoices::create_invoice,
        invoices::get_invoice,
        invoices::cancel_invoice,
        payments::create_payment,
        payments::get_payment,
        webhooks::create_webhook,
        webhooks::list_webhooks,
        webhooks::get_webhook,
        webhooks::disable_webhook,
        webhooks::rotate_secret,
        webhooks::list_deliveries,
        webhooks::get_delivery,
        webhooks::redeliver,
        nodes::list_nodes,
        books::check,
        nodes::healthz,
        nodes::readyz,
        openapi,
    ),
    components(schemas(Problem)),
    // Every operation needs the bearer credential unless it says otherwise (`security(())`);
    // the problems the guard and the extractors answer are added to each by
    // `ProblemResponses`, not repeated in the annotations.
    modifiers(&BearerAuth, &ProblemResponses),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// This document (OpenAPI 3.1), open to anyone.
#[utoipa::path(get, path = "/v1/openapi.json", security(()),
    responses((status = 200, description = "the OpenAPI document", body = serde_json::Value)))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// An endpoint behind the guard: it needs `scope` and serves `audience`; a mutating one
/// names its audit `action`.
fn guarded(
    auth: &Auth,
    (scope, audience): (ApiScope, Audience),
    action: Option<&'static str>,
    route: MethodRouter<ApiState>,
) -> MethodRouter<ApiState> {
    let need = Requirement {
        scope,
        audience,
        action,
        audit_success: false,
    };
    route.route_layer(axum::middleware::from_fn_with_state(
        (auth.clone(), need),
        auth::guard,
    ))
}

/// The API's routes. Every `/v1` endpoint but the OpenAPI document is guarded and
/// declares the scope it needs and its audience (`P`: platform credentials only, `T`: a
/// tenant's, scoped to it, or the platform's); anything undeclared does not exist (404).
pub fn router(state: ApiState) -> Router {
    use ApiScope::*;
    const P: Audience = Audience::Platform;
    const T: Audience = Audience::Tenant;
    let auth = state.auth.clone();
    let g = |scope, action, route| guarded(&auth, scope, action, route);
    let v1 = Router::new()
        .route(
            "/v1/tenants",
            g(
                (Admin, P),
                Some("tenant.create"),
                post(accounts::create_tenant),
            ),
        )
        .route(
            "/v1/approval-policies",
            g(
                (Admin, P),
                Some("approval_policy.propose"),
                post(approval_policies::propose_policy),
            )
            .merge(g((Admin, P), None, get(approval_policies::list_policies))),
        )
        .route(
            "/v1/approval-policies/{version}/approve",
            g(
                (Admin, P),
                Some("approval_policy.approve"),
                post(approval_policies::approve_policy),
            ),
        )
        .route(
            "/v1/approvals",
            g((PaymentsRead, T), None, get(approvals::list_approvals)),
        )
        .route(
            "/v1/approvals/{id}",
            g((PaymentsRead, T), None, get(approvals::get_approval)),
        )
        .route(
            "/v1/approvals/{id}/approve",
            g(
                (ApprovalsWrite, T),
                Some("approval.vote"),
                post(approvals::approve),
            ),
        )
        .route(
            "/v1/approvals/{id}/reject",
            g(
                (ApprovalsWrite, T),
                Some("approval.vote"),
                post(approvals::reject),
            ),
        )
        .route(
            "/v1/recoveries",
            g(
                (Admin, P),
                Some("recovery.request"),
                post(recoveries::create_recovery),
            )
            .merge(g((Admin, P), None, get(recoveries::list_recoveries))),
        )
        .route(
            "/v1/recoveries/{id}",
            g((Admin, P), None, get(recoveries::get_recovery)),
        )
        .route(
            "/v1/alerts",
            g((ComplianceRead, P), None, get(alerts::list_alerts)),
        )
        .route(
            "/v1/alerts/{id}/decide",
            g(
                (ComplianceWrite, P),
                Some("alert.decide"),
                post(alerts::decide_alert),
            ),
        )
        .route(
            "/v1/cases",
            g(
                (ComplianceWrite, P),
                Some("case.open"),
                post(cases::open_case),
            )
            .merge(g((ComplianceRead, P), None, get(cases::list_cases))),
        )
        .route(
            "/v1/cases/{id}",
            g((ComplianceRead, P), None, get(cases::get_case)).merge(g(
                (ComplianceWrite, P),
                Some("case.update"),
                axum::routing::patch(cases::update_case),
            )),
        )
        .route(
            "/v1/cases/{id}/notes",
            g(
                (ComplianceWrite, P),
                Some("case.note"),
                post(cases::add_note),
            ),
        )
        .route(
            "/v1/cases/{id}/sar",
            g(
                (ComplianceWrite, P),
                Some("case.report_draft"),
                post(cases::draft_report),
            )
            .merge(g((ComplianceRead, P), None, get(cases::export_report))),
        )
        .route(
            "/v1/cases/{id}/sar/filed",
            g(
                (ComplianceWrite, P),
                Some("case.report_filed"),
                post(cases::file_report),
            ),
        )
        .route(
            "/v1/compliance/rules",
            g(
                (ComplianceWrite, P),
                Some("aml_rules.propose"),
                post(rule_sets::propose_rules),
            )
            .merge(g((ComplianceRead, P), None, get(rule_sets::list_rule_sets))),
        )
        .route(
            "/v1/compliance/rules/{version}/approve",
            g(
                (ComplianceWrite, P),
                Some("aml_rules.approve"),
                post(rule_sets::approve_rules),
            ),
        )
        .route(
            "/v1/compliance/reports/{period}",
            g(
                (ComplianceRead, P),
                None,
                get(compliance_reports::period_report),
            ),
        )
        .route(
            "/v1/customers",
            g(
                (ComplianceWrite, P),
                Some("customer.create"),
                post(customers::create_customer),
            )
            .merge(g((ComplianceRead, P), None, get(customers::list_customers))),
        )
        .route(
            "/v1/customers/{id}",
            g((ComplianceRead, P), None, get(customers::get_customer)).merge(g(
                (ComplianceWrite, P),
                Some("customer.update"),
                axum::routing::patch(customers::update_customer),
            )),
        )
        .route(
            "/v1/customers/{id}/end-relationship",
            g(
                (ComplianceWrite, P),
                Some("customer.end_relationship"),
                post(customers::end_relationship),
            ),
        )
        .route(
            "/v1/customers/{id}/clearances",
            g(
                (ComplianceWrite, P),
                Some("screening.clear"),
                post(customers::clear_match),
            )
            .merge(g(
                (ComplianceRead, P),
                None,
                get(customers::list_clearances),
            )),
        )
        .route(
            "/v1/screening/names",
            g((ComplianceRead, P), None, post(screening::screen_names)).layer(
                axum::extract::DefaultBodyLimit::max(screening::MAX_SCREENING_BODY_BYTES),
            ),
        )
        .route(
            "/v1/screening/lists",
            g((ComplianceRead, P), None, get(screening::list_versions)),
        )
        .route(
            "/v1/screening/watchlist",
            g(
                (ComplianceWrite, P),
                Some("watchlist.add"),
                post(screening::add_watch_item),
            )
            .merge(g(
                (ComplianceRead, P),
                None,
                get(screening::list_watch_items),
            )),
        )
        .route(
            "/v1/screening/watchlist/{id}",
            g(
                (ComplianceWrite, P),
                Some("watchlist.remove"),
                axum::routing::delete(screening::remove_watch_item),
            ),
        )
        .route(
            "/v1/accounts",
            g(
                (AccountsWrite, T),
                Some("account.create"),
                post(accounts::create_account),
            )
            .merge(g((AccountsRead, T), None, get(accounts::list_accounts))),
        )
        .route(
            "/v1/accounts/{id}",
            g((AccountsRead, T), None, get(accounts::get_account)),
        )
        .route(
            "/v1/accounts/{id}/limits",
            g(
                (Admin, P),
                Some("account.limits"),
                axum::routing::put(limits::put_limits),
            )
            .merge(g((AccountsRead, T), None, get(limits::get_limits))),
        )
        .route(
            "/v1/accounts/{id}/entries",
            g((AccountsRead, T), None, get(accounts::list_entries)),
        )
        .route(
            "/v1/invoices",
            g(
                (InvoicesWrite, T),
                Some("invoice.create"),
                post(invoices::create_invoice),
            ),
        )
        .route(
            "/v1/invoices/{id}",
            g((InvoicesRead, T), None, get(invoices::get_invoice)),
        )
        .route(
            "/v1/invoices/{id}/cancel",
            g(
                (InvoicesWrite, T),
                Some("invoice.cancel"),
                post(invoices::cancel_invoice),
            ),
        )
        .route(
            "/v1/payments",
            g(
                (PaymentsWrite, T),
                Some("payment.create"),
                post(payments::create_payment),
            ),
        )
        .route(
            "/v1/payments/{id}",
            g((PaymentsRead, T), None, get(payments::get_payment)),
        )
        .route(
            "/v1/webhooks",
            g(
                (WebhooksWrite, T),
                Some("webhook.create"),
                post(webhooks::create_webhook),
            )
            .merge(g((WebhooksRead, T), None, get(webhooks::list_webhooks))),
        )
        .route(
            "/v1/webhooks/{id}",
            g((WebhooksRead, T), None, get(webhooks::get_webhook)).merge(g(
                (WebhooksWrite, T),
                Some("webhook.disable"),
                axum::routing::delete(webhooks::disable_webhook),
            )),
        )
        .route(
            "/v1/webhooks/{id}/rotate-secret",
            g(
                (WebhooksWrite, T),
                Some("webhook.rotate_secret"),
                post(webhooks::rotate_secret),
            ),
        )
        .route(
            "/v1/webhooks/{id}/deliveries",
            g((WebhooksRead, T), None, get(webhooks::list_deliveries)),
        )
        .route(
            "/v1/webhooks/{id}/deliveries/{delivery_id}",
            g((WebhooksRead, T), None, get(webhooks::get_delivery)),
        )
        .route(
            "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            g(
                (WebhooksWrite, T),
                Some("webhook.redeliver"),
                post(webhooks::redeliver),
            ),
        )
        .route(
            "/v1/apikeys",
            g(
                (Admin, T),
                Some("apikey.create"),
                post(apikeys::create_apikey),
            )
            .merge(g((Admin, T), None, get(apikeys::list_apikeys))),
        )
        .route(
            "/v1/apikeys/{id}",
            g((Admin, T), None, get(apikeys::get_apikey)),
        )
        .route(
            "/v1/apikeys/{id}/rotate",
            g(
                (Admin, T),
                Some("apikey.rotate"),
                post(apikeys::rotate_apikey),
            ),
        )
        .route(
            "/v1/apikeys/{id}/revoke",
            g(
                (Admin, T),
                Some("apikey.revoke"),
                post(apikeys::revoke_apikey),
            ),
        )
        .route(
            "/v1/audit",
            g((AuditRead, T), None, get(audit_log::list_audit)),
        )
        .route("/v1/usage", g((LedgerRead, T), None, get(usage::get_usage)))
        .route("/v1/sla", g((MetricsRead, P), None, get(sla::get_sla)))
        .route("/v1/nodes", g((NodesRead, P), None, get(nodes::list_nodes)))
        .route(
            "/v1/ledger/check",
            g((LedgerRead, P), None, get(books::check)),
        );
    Router::new()
        .merge(v1)
        .route("/v1/openapi.json", get(openapi))
        .route("/healthz", get(nodes::healthz))
        .route("/readyz", get(nodes::readyz))
        .route_layer(axum::middleware::from_fn_with_state(
            state.gateway.clone(),
            metrics::track,
        ))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::from_fn_with_state(auth, edge::edge))
        .with_state(state)
}

/// Puts every route of `router` (defined outside this crate, such as the demo's devnet
/// control) behind the guard for platform credentials with `scope`; the guard audits
/// their outcomes.
pub fn guard_all<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    auth: &Auth,
    scope: ApiScope,
    action: &'static str,
) -> Router<S> {
    let need = Requirement {
        scope,
        audience: Audience::Platform,
        action: Some(action),
        audit_success: true,
    };
    behind_guard(router, auth, need)
}

/// Puts `router` behind the guard for a platform read needing `scope` (nothing audited
/// on success).
pub(crate) fn guard_read<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    auth: &Auth,
    scope: ApiScope,
) -> Router<S> {
    let need = Requirement {
        scope,
        audience: Audience::Platform,
        action: None,
        audit_success: false,
    };
    behind_guard(router, auth, need)
}

fn behind_guard<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    auth: &Auth,
    need: Requirement,
) -> Router<S> {
    router.route_layer(axum::middleware::from_fn_with_state(
        (auth.clone(), need),
        auth::guard,
    ))
}

/// Serves `app` over plain HTTP on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_on(PlainListener(listener), app, shutdown).await
}

/// Serves `app` on `listener` (plain or TLS) until `shutdown` resolves.
pub async fn serve_on<L>(
    listener: L,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = Peer>,
    Peer: for<'a> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
        .with_graceful_shutdown(shutdown)
        .await
}
