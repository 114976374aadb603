//! Request bodies: JSON only (415 otherwise), well-formed (400), of the right shape with no
//! unknown fields (422); query strings (400) and path parameters (404); each with a problem
//! code and a sentence of our own that names the field. The parser's text (serde's, axum's)
//! names Rust types and internals: it goes to the debug log, never to the client. Also the
//! raw body bytes, for idempotency.

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
                    "the body is larger than this endpoint accepts",
                )
            } else {
                tracing::debug!(error = %e, "request body not read");
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "unreadable_body",
                    "the body could not be read in full",
                )
            }
        })?;
        let value = serde_json::from_slice(&raw).map_err(|e| body_problem(&raw, &e))?;
        Ok(Self { value, raw })
    }
}

/// The problem for a body serde refused: 400 when it is not JSON, else 422 naming the
/// field (found by position in the body, or named by the error).
fn body_problem(raw: &[u8], e: &serde_json::Error) -> Problem {
    use serde_json::error::Category;
    tracing::debug!(error = %e, "request body refused");
    match e.classify() {
        Category::Data => {
            let at = offset(raw, e.line(), e.column()).min(raw.len());
            let (object, value) = json_path(&raw[..at]);
            Problem::invalid(field_sentence(&e.to_string(), &object, &value, "the body"))
        }
        _ => Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        ),
    }
}

/// The byte offset of serde_json's 1-based line and column.
fn offset(raw: &[u8], line: usize, column: usize) -> usize {
    let line_start = raw
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(line.saturating_sub(2))
        .map_or(0, |(i, _)| i + 1);
    if line <= 1 {
        column
    } else {
        line_start + column
    }
}

/// Where in the document a well-formed JSON prefix ends: the object it is in (`a.b[2]`,
/// empty at the top: serde names a missing or unknown field of it) and the value it is at
/// (`a.b[2].c`: serde found that value wrong).
fn json_path(prefix: &[u8]) -> (String, String) {
    enum Frame {
        Object(Option<String>),
        Array(usize),
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < prefix.len() {
        match prefix[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < prefix.len() && prefix[i] != b'"' {
                    i += if prefix[i] == b'\\' { 2 } else { 1 };
                }
                let text = String::from_utf8_lossy(&prefix[start..i.min(prefix.len())]);
                // A string followed by `:` is a key of the object it is in.
                let rest = prefix.get(i + 1..).unwrap_or_default();
                let is_key = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b':');
                if let (true, Some(Frame::Object(key))) = (is_key, stack.last_mut()) {
                    *key = Some(text.into_owned());
                }
            }
            b'{' => stack.push(Frame::Object(None)),
            b'[' => stack.push(Frame::Array(0)),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(Frame::Array(n)) = stack.last_mut() {
                    *n += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let render = |frames: &[Frame]| {
        let mut path = String::new();
        for frame in frames {
            match frame {
                Frame::Object(Some(key)) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Frame::Object(None) => {}
                Frame::Array(n) => path.push_str(&format!("[{n}]")),
            }
        }
        path
    };
    let value = render(&stack);
    if let Some(Frame::Object(key)) = stack.last_mut() {
        *key = None;
    }
    (render(&stack), value)
}

/// A field name fit to repeat to the client: what serde names is either ours (a struct's
/// field) or the client's own input (an unknown key), so only short, plain names are kept.
fn plain(name: &str) -> Option<&str> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']'));
    ok.then_some(name)
}

/// The first `` `name` `` in a serde message.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    plain(&message[start..start + len])
}

fn joined(parent: &str, field: &str) -> String {
    if parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

/// Our sentence for serde's `message`, about a field of the object at `object` or the
/// value at `value` (within `what`).
fn field_sentence(message: &str, object: &str, value: &str, what: &str) -> String {
    if message.starts_with("missing field") {
        if let Some(field) = quoted(message) {
            return format!("{} is required", joined(object, field));
        }
    }
    if message.starts_with("unknown field") {
        return match quoted(message) {
            Some(field) => format!("{} is not a field {what} takes", joined(object, field)),
            None => format!("{what} has a field it does not take"),
        };
    }
    if message.starts_with("duplicate field") {
        if let Some(field) = quoted(message) {
            return format!("{} is given more than once", joined(object, field));
        }
    }
    match plain(value) {
        Some(path) => format!("{path} has the wrong type or is out of range"),
        None => format!("{what} is not of the documented shape"),
    }
}

/// The cursor for the page after `page`: its last row's, unless the page came back short
/// (the last one).
pub(crate) fn next_after<T, C>(page: &[T], limit: u32, cursor: impl Fn(&T) -> C) -> Option<C> {
    (page.len() as u32 >= kernel::page_limit(limit))
        .then(|| page.last().map(cursor))
        .flatten()
}

/// Query parameters; a bad one is a 400 problem `invalid_query` naming it.
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
            .map_err(|e| {
                // The deserializer's own message, without axum's preamble: `field: why`
                // for a value, or serde's sentence naming a missing or unknown field.
                let inner =
                    std::error::Error::source(&e).map_or_else(String::new, |s| s.to_string());
                tracing::debug!(error = %inner, "query string refused");
                let (path, message) = match inner.split_once(": ") {
                    Some((field, why)) if plain(field).is_some() => (field, why),
                    _ => ("", inner.as_str()),
                };
                let sentence = field_sentence(message, "", path, "the query");
                Problem::new(StatusCode::BAD_REQUEST, "invalid_query", sentence)
            })
    }
}

/// Path parameters. One that cannot be read (not UTF-8 once decoded) names nothing that
/// exists: 404, as for any unknown id.
pub struct PathParams<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Problem> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| {
                tracing::debug!(error = %e, "path parameter refused");
                Problem::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        amount_msat: u64,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        items: Vec<Inner>,
    }

    fn sentence(body: &str) -> String {
        let e = serde_json::from_slice::<Outer>(body.as_bytes()).expect_err("refused");
        body_problem(body.as_bytes(), &e).detail
    }

    #[test]
    fn body_problems_name_the_field_in_our_words() {
        assert_eq!(sentence(r#"{"items": []}"#), "name is required");
        assert_eq!(
            sentence(r#"{"name": "a", "items": [], "zz": 1}"#),
            "zz is not a field the body takes"
        );
        assert_eq!(
            sentence(r#"{"name": 7, "items": []}"#),
            "name has the wrong type or is out of range"
        );
        assert_eq!(
            sentence(
                "{\"name\": \"a\",\n \"items\": [{\"amount_msat\": 1}, {\"amount_msat\": -1}]}"
            ),
            "items[1].amount_msat has the wrong type or is out of range"
        );
        assert_eq!(
            sentence(r#"{"name": "a", "items": [{}]}"#),
            "items[0].amount_msat is required"
        );
        assert_eq!(sentence("[]"), "the body is not of the documented shape");
        let e = serde_json::from_slice::<Outer>(b"{\"name\":").expect_err("eof");
        let problem = body_problem(b"{\"name\":", &e);
        assert_eq!(
            (problem.status, problem.code.as_str()),
            (400, "malformed_json")
        );
        for text in [sentence(r#"{"name": 7, "items": []}"#), problem.detail] {
            assert!(
                !text.contains("expected") && !text.contains("invalid type"),
                "{text}"
            );
        }
    }
}
