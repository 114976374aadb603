//! What every response carries: the request id (the client's `X-Request-Id` if it is
//! sane, else a new one) and the trace id (from `traceparent`, else new; see
//! [`crate::trace`]), echoed and on every log line of the request, and security headers
//! for an API that serves JSON only.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::auth::Auth;

/// The request's id, for handlers and the audit trail.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

const MAX_REQUEST_ID_CHARS: usize = 128;

fn acceptable(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
];

pub(crate) async fn edge(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable(id))
        .map_or_else(|| auth.ids().next_id("req"), str::to_string);
    req.extensions_mut().insert(RequestId(id.clone()));
    let (trace_id, parent) = crate::trace::incoming(req.headers());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        trace_id = %trace_id,
        method = %req.method(),
        path = %req.uri().path(),
        otel.kind = "server",
    );
    crate::trace::adopt(&span, parent);
    let mut response = next.run(req).instrument(span).await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert("x-request-id", value);
    }
    if let Ok(value) = HeaderValue::from_str(&trace_id) {
        headers.insert("x-trace-id", value);
    }
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_request_ids_are_kept() {
        assert!(acceptable("req_01hx-abc.def:1"));
        for bad in ["", "a b", "x\ny", "é", &"a".repeat(129)] {
            assert!(!acceptable(bad), "{bad:?}");
        }
    }
}
