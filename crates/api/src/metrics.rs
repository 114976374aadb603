//! Prometheus metrics: the recorder (installed once, by the binary), a layer recording
//! every routed request (by route template, never the raw path, so label values stay
//! bounded), and `/metrics` behind the guard (scope `metrics:read`).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use gateway::Gateway;
use ops::Slo;
use tracing::Instrument;

use crate::ApiState;

/// Latency buckets for every `_seconds` histogram: 100 µs to 60 s, with a bound at each
/// SLO threshold (0.5 s invoices, 1 s API, 3 s payments) so the SLIs are exact ratios.
const SECONDS_BUCKETS: [f64; 18] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    3.0, 5.0, 10.0, 60.0,
];

/// Installs the process-wide Prometheus recorder; its handle renders `/metrics`.
pub fn install_recorder() -> Result<PrometheusHandle, String> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_string()), &SECONDS_BUCKETS)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())
}

/// Records `fulgur_api_requests_total` and `fulgur_api_request_duration_seconds` by
/// method, route and status (the guard's time included), and the API-latency SLI.
pub(crate) async fn track(State(gateway): State<Gateway>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().as_str().to_string();
    // The edge's request span opens before routing; this child is named by the route.
    let span = tracing::info_span!("route", otel.name = %format!("{method} {route}"));
    let started = Instant::now();
    let response = next.run(req).instrument(span).await;
    let status = response.status().as_u16().to_string();
    let took = started.elapsed();
    metrics::histogram!(
        "fulgur_api_request_duration_seconds",
        "method" => method.clone(),
        "route" => route.clone(),
    )
    .record(took.as_secs_f64());
    let took_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    gateway.sli().record_latency_now(Slo::ApiLatency, took_ms);
    // The access log: off by default (target `api::access`), a line per request when on.
    tracing::info!(target: "api::access", %status, took_ms, "answered");
    metrics::counter!(
        "fulgur_api_requests_total",
        "method" => method,
        "route" => route,
        "status" => status,
    )
    .increment(1);
    response
}

#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    state: ApiState,
}

/// The recorder's counters and histograms, then the gauges of the moment (nodes,
/// channels, chain, store, webhook backlog), computed now so none is stale.
async fn render(State(scrape): State<Scrape>) -> Response {
    scrape.handle.run_upkeep();
    let mut body = scrape.handle.render();
    let mut gauges = Vec::new();
    match scrape.state.gateway.gauges().await {
        Ok(found) => gauges.extend(found),
        Err(error) => tracing::warn!(%error, "gateway gauges not read for /metrics"),
    }
    match scrape.state.webhooks.gauges().await {
        Ok(found) => gauges.extend(found),
        Err(error) => tracing::warn!(%error, "webhook gauges not read for /metrics"),
    }
    crate::exposition::write_gauges(&mut body, &gauges);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// `GET /metrics`, for merging into the API's router.
pub fn metrics_router(handle: PrometheusHandle, state: ApiState) -> Router {
    let auth = state.auth.clone();
    let route = Router::new()
        .route("/metrics", get(render))
        .with_state(Scrape { handle, state });
    crate::guard_read(route, &auth, access::ApiScope::MetricsRead)
}
