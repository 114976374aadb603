//! Logs and traces for the process. Logs go to stderr as JSON lines (or text), filtered
//! per module; each line of a request carries its `request_id` and `trace_id` (fields of
//! the request span, listed in `spans`). With an OTLP endpoint, spans are also exported
//! over OTLP/HTTP (protobuf) in batches — the API request, the pipeline's stages, node
//! calls and store operations — under the same trace id; off by default.
//!
//! Settings: `[log]` in `fulgur serve`'s config (`FULGUR_LOG__FILTER`, ... override it),
//! or for the other commands the environment: `FULGUR_LOG` (filter), `FULGUR_LOG_FORMAT`
//! (`json` | `text`), `FULGUR_OTLP_ENDPOINT` (e.g. `http://collector:4318/v1/traces`).

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::Deserialize;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Defaults: JSON, `warn,fulgur=info,devnet=info`, no OTLP export.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `json` or `text`.
    pub format: String,
    /// Levels per module, `tracing` filter syntax (`warn,gateway=debug`).
    pub filter: String,
    /// OTLP/HTTP traces endpoint; absent: no export.
    pub otlp_endpoint: Option<String>,
    /// Levels of the spans exported (the log filter does not apply to them).
    pub otlp_filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "json".into(),
            filter: "warn,fulgur=info,devnet=info".into(),
            otlp_endpoint: None,
            otlp_filter: "info".into(),
        }
    }
}

impl LogConfig {
    /// The defaults, overridden by `FULGUR_LOG`, `FULGUR_LOG_FORMAT`, `FULGUR_OTLP_ENDPOINT`.
    pub fn from_env() -> Self {
        let mut config = Self::default();
        if let Ok(filter) = std::env::var("FULGUR_LOG") {
            config.filter = filter;
        }
        if let Ok(format) = std::env::var("FULGUR_LOG_FORMAT") {
            config.format = format;
        }
        config.otlp_endpoint = std::env::var("FULGUR_OTLP_ENDPOINT").ok();
        config
    }
}

/// Flushes exported spans on drop.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("warning: spans not all exported at exit: {error}");
            }
        }
    }
}

/// Installs the process's subscriber. Call once, outside the async runtime (the OTLP
/// exporter runs its own thread with a blocking HTTP client).
pub fn init(config: &LogConfig) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_new(&config.filter)
        .with_context(|| format!("log filter {:?}", config.filter))?;
    let logs = match config.format.as_str() {
        "json" => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
        "text" => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
        other => anyhow::bail!("log format {other:?}: json or text"),
    };
    let (traces, provider) = match &config.otlp_endpoint {
        None => (None, None),
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint)
                .build()
                .with_context(|| format!("OTLP exporter for {endpoint}"))?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name("fulgur")
                        .build(),
                )
                .build();
            let spans_filter = EnvFilter::try_new(&config.otlp_filter)
                .with_context(|| format!("span filter {:?}", config.otlp_filter))?;
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("fulgur"))
                .with_filter(spans_filter);
            (Some(layer), Some(provider))
        }
    };
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .context("install the log subscriber")?;
    Ok(Telemetry { provider })
}
