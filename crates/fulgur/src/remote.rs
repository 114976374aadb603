//! Operator commands that ask a running gateway: one authenticated GET, JSON back.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

/// `GET {url}{path}` with the key in `key_file`; the JSON body of a 2xx answer.
pub async fn get_json(url: &str, key_file: &Path, path: &str) -> anyhow::Result<Value> {
    let key = std::fs::read_to_string(key_file)
        .with_context(|| format!("read {}", key_file.display()))?;
    let response = reqwest::Client::new()
        .get(format!("{}{path}", url.trim_end_matches('/')))
        .bearer_auth(key.trim())
        .send()
        .await
        .with_context(|| format!("reach {url}"))?;
    let status = response.status();
    let body: Value = serde_json::from_slice(&response.bytes().await?)
        .with_context(|| format!("answer from {url} is not JSON"))?;
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {body}");
    Ok(body)
}
