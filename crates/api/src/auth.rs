//! Authentication for now: one administrator API key as a bearer token, compared in
//! constant time. The zero-trust issue replaces it with scoped keys, OIDC and mTLS.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gateway::Scope;
use subtle::ConstantTimeEq;

use crate::problem::Problem;

/// Who the request acts as, set by the middleware for handlers.
#[derive(Debug, Clone)]
pub struct Caller {
    pub scope: Scope,
    /// Idempotency keys are per caller.
    pub tenant_key: String,
}

#[derive(Clone)]
pub struct AdminKey(Arc<[u8]>);

impl AdminKey {
    pub fn new(secret: &str) -> Self {
        Self(Arc::from(secret.as_bytes()))
    }
}

pub async fn require_bearer(State(key): State<AdminKey>, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let valid = presented.is_some_and(|token| bool::from(token.as_bytes().ct_eq(&key.0)));
    if !valid {
        let mut response = Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid bearer credential is required",
        )
        .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    req.extensions_mut().insert(Caller {
        scope: Scope::All,
        tenant_key: "admin".to_string(),
    });
    next.run(req).await
}
