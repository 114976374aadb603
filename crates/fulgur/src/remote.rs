//! Operator commands that ask a running gateway: one authenticated call, JSON back.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

use crate::BadInput;

/// `METHOD {url}{path}` with the key in `key_file` (and a JSON `body`); the JSON answer
/// of a 2xx. A 4xx is the caller's to fix (its problem detail, exit 2); anything else
/// an error.
async fn call_json(
    method: reqwest::Method,
    url: &str,
    key_file: &Path,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let key = std::fs::read_to_string(key_file)
        .with_context(|| format!("read {}", key_file.display()))?;
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", url.trim_end_matches('/')))
        .bearer_auth(key.trim());
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("reach {url}"))?;
    let status = response.status();
    let answer: Value = serde_json::from_slice(&response.bytes().await?)
        .with_context(|| format!("answer from {url} is not JSON"))?;
    if status.is_client_error() {
        let detail = answer["detail"].as_str().unwrap_or("refused");
        let code = answer["code"].as_str().unwrap_or("?");
        return Err(BadInput(format!("{status} {code}: {detail}")).into());
    }
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {answer}");
    Ok(answer)
}

/// `GET {url}{path}`.
pub async fn get_json(url: &str, key_file: &Path, path: &str) -> anyhow::Result<Value> {
    call_json(reqwest::Method::GET, url, key_file, path, None).await
}

/// `POST {url}{path}` with a JSON body.
pub async fn post_json(
    url: &str,
    key_file: &Path,
    path: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    call_json(reqwest::Method::POST, url, key_file, path, Some(body)).await
}
