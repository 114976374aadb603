//! `api`: Fulgur's HTTP API (SPEC §4) — thin axum handlers over [`gateway::Gateway`].
//! JSON in and out, RFC 9457 problems with stable codes, bearer authentication, bounded
//! bodies and request time, OpenAPI 3.1 generated from the handlers at `/v1/openapi.json`.

mod accounts;
mod auth;
mod books;
mod extract;
mod invoices;
mod nodes;
mod payments;
mod problem;
mod webhooks;

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use gateway::Gateway;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;

pub use crate::auth::AdminKey;
pub use crate::extract::JsonBody;
pub use crate::problem::Problem;

/// Largest request body: a payment request with a long invoice fits many times over.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// A request that takes longer is answered 503 (the work it started still completes).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct ApiState {
    pub gateway: Gateway,
    pub webhooks: ::webhooks::Webhooks,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Fulgur", description = "Enterprise Lightning payments"),
    paths(
        accounts::create_tenant,
        accounts::create_account,
        accounts::list_accounts,
        accounts::get_account,
        accounts::list_entries,
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
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
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

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// The API's routes; everything under `/v1` but the OpenAPI document needs the bearer
/// credential.
pub fn router(state: ApiState, admin_key: AdminKey) -> Router {
    let v1 = Router::new()
        .route("/v1/tenants", post(accounts::create_tenant))
        .route(
            "/v1/accounts",
            post(accounts::create_account).get(accounts::list_accounts),
        )
        .route("/v1/accounts/{id}", get(accounts::get_account))
        .route("/v1/accounts/{id}/entries", get(accounts::list_entries))
        .route("/v1/invoices", post(invoices::create_invoice))
        .route("/v1/invoices/{id}", get(invoices::get_invoice))
        .route("/v1/invoices/{id}/cancel", post(invoices::cancel_invoice))
        .route("/v1/payments", post(payments::create_payment))
        .route("/v1/payments/{id}", get(payments::get_payment))
        .route(
            "/v1/webhooks",
            post(webhooks::create_webhook).get(webhooks::list_webhooks),
        )
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::get_webhook).delete(webhooks::disable_webhook),
        )
        .route(
            "/v1/webhooks/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route(
            "/v1/webhooks/{id}/deliveries",
            get(webhooks::list_deliveries),
        )
        .route(
            "/v1/webhooks/{id}/deliveries/{delivery_id}",
            get(webhooks::get_delivery),
        )
        .route(
            "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            post(webhooks::redeliver),
        )
        .route("/v1/nodes", get(nodes::list_nodes))
        .route("/v1/ledger/check", get(books::check));
    let v1 = authenticated(v1, admin_key);
    Router::new()
        .merge(v1)
        .route("/v1/openapi.json", get(openapi))
        .route("/healthz", get(nodes::healthz))
        .route("/readyz", get(nodes::readyz))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .with_state(state)
}

/// Requires the bearer credential on every route of `router` (for routes defined outside
/// this crate, such as the demo's devnet control).
pub fn authenticated<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    admin_key: AdminKey,
) -> Router<S> {
    router.route_layer(axum::middleware::from_fn_with_state(
        admin_key,
        auth::require_bearer,
    ))
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
