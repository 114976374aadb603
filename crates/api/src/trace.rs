//! W3C trace context at the edge. Every request gets a trace id — the caller's, from a
//! valid `traceparent` header, or a new random one — that every log line of the request
//! carries and the response returns in `x-trace-id`. When OpenTelemetry export is on, the
//! request's span joins that trace, so exported spans and log lines share the id.

use axum::http::HeaderMap;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The caller's trace and span, parsed from `traceparent` (version 00).
fn parent(headers: &HeaderMap) -> Option<(TraceId, SpanId)> {
    let value = headers.get("traceparent")?.to_str().ok()?;
    let mut parts = value.trim().split('-');
    let (version, trace, span, _flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00" || parts.next().is_some() || trace.len() != 32 || span.len() != 16 {
        return None;
    }
    let trace = TraceId::from_hex(trace)
        .ok()
        .filter(|t| *t != TraceId::INVALID)?;
    let span = SpanId::from_hex(span)
        .ok()
        .filter(|s| *s != SpanId::INVALID)?;
    Some((trace, span))
}

/// A new trace and span id from one read of the OS random source.
fn new_ids() -> (TraceId, SpanId) {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    let (trace, span) = bytes.split_at(16);
    (
        TraceId::from_bytes(trace.try_into().expect("16 bytes")),
        SpanId::from_bytes(span.try_into().expect("8 bytes")),
    )
}

/// The request's trace id (32 hex digits) and the remote parent its span adopts.
pub(crate) fn incoming(headers: &HeaderMap) -> (String, SpanContext) {
    let (trace, span) = parent(headers).unwrap_or_else(new_ids);
    let context = SpanContext::new(
        trace,
        span,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    (trace.to_string(), context)
}

/// Makes `span` a child of the remote `parent` in OpenTelemetry (a no-op without an
/// OpenTelemetry layer).
pub(crate) fn adopt(span: &tracing::Span, parent: SpanContext) {
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_is_kept_and_anything_else_starts_a_new_trace() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .expect("header"),
        );
        assert_eq!(incoming(&headers).0, "4bf92f3577b34da6a3ce929d0e0e4736");
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "garbage",
        ] {
            headers.insert("traceparent", bad.parse().expect("header"));
            let (id, _) = incoming(&headers);
            assert_ne!(id, "4bf92f3577b34da6a3ce929d0e0e4736", "{bad}");
            assert_eq!(id.len(), 32);
        }
    }
}
