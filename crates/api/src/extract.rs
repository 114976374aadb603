//! Request bodies: JSON only (415 otherwise), well-formed (400), of the right shape with no
//! unknown fields (422); each with a problem code. Also the raw bytes, for idempotency.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON body and its raw bytes.
pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be application/json",
            ));
        }
        let raw = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    e.body_text(),
                )
            } else {
                Problem::new(StatusCode::BAD_REQUEST, "unreadable_body", e.body_text())
            }
        })?;
        let value = serde_json::from_slice(&raw).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_field",
                    e.to_string(),
                ),
                _ => Problem::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()),
            }
        })?;
        Ok(Self { value, raw })
    }
}

/// Largest page any list returns (the domain clamps to the same bound).
const MAX_PAGE: u32 = 500;

/// The cursor for the page after `page`: its last row's, unless the page came back short
/// (the last one).
pub(crate) fn next_after<T, C>(page: &[T], limit: u32, cursor: impl Fn(&T) -> C) -> Option<C> {
    (page.len() as u32 >= limit.clamp(1, MAX_PAGE))
        .then(|| page.last().map(cursor))
        .flatten()
}

/// Query parameters; a bad one is a 400 problem.
pub struct QueryParams<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Problem> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))
    }
}
