//! `GET /v1/sla`: attainment, error budget and burn rates of each SLO over 5 m, 1 h, 6 h
//! and 30 d, from the indicators every replica records (scope `metrics:read`).

use axum::extract::State;
use axum::Json;
use ops::{SlaReport, SloReport, SloWindow};
use serde::Serialize;

use crate::{ApiState, Problem};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SlaWindowView {
    /// `5m`, `1h`, `6h` or `30d`.
    pub window: String,
    pub good: u64,
    pub total: u64,
    /// good / total; null without events.
    pub attainment: Option<f64>,
    /// Bad ratio over the budgeted one: 1 spends the 30-day budget exactly in 30 days.
    pub burn_rate: Option<f64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SloView {
    /// `availability`, `payment_latency`, `invoice_latency` or `api_latency`.
    pub slo: String,
    pub objective: f64,
    /// The latency an event must stay within to be good (latency SLOs only).
    pub threshold_ms: Option<u64>,
    /// Share of the 30-day error budget left; negative once overspent.
    pub error_budget_remaining: Option<f64>,
    /// The 30-day attainment meets the objective.
    pub met: bool,
    pub windows: Vec<SlaWindowView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SlaView {
    pub generated_at: String,
    pub slos: Vec<SloView>,
}

fn window(w: SloWindow) -> SlaWindowView {
    SlaWindowView {
        window: w.window.to_string(),
        good: w.good,
        total: w.total,
        attainment: w.attainment,
        burn_rate: w.burn_rate,
    }
}

fn slo(r: SloReport) -> SloView {
    SloView {
        slo: r.slo.as_str().to_string(),
        objective: r.objective,
        threshold_ms: r.threshold_ms,
        error_budget_remaining: r.error_budget_remaining,
        met: r.met,
        windows: r.windows.into_iter().map(window).collect(),
    }
}

impl From<SlaReport> for SlaView {
    fn from(report: SlaReport) -> Self {
        Self {
            generated_at: kernel::rfc3339(report.generated_at_ms),
            slos: report.slos.into_iter().map(slo).collect(),
        }
    }
}

/// The SLA report.
#[utoipa::path(get, path = "/v1/sla", responses((status = 200, body = SlaView)))]
pub async fn get_sla(State(state): State<ApiState>) -> Result<Json<SlaView>, Problem> {
    Ok(Json(state.gateway.sli().report().await?.into()))
}
