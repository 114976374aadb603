//! Where an issuer's signing keys come from: its discovery document and JWKS.

use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;

/// Fetches an issuer's current public keys.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// The issuer's JWKS; `Err` says why it could not be had.
    async fn fetch(&self, issuer: &str) -> Result<JwkSet, String>;
}

/// Discovery, then JWKS, over HTTP(S), with a timeout and a size bound on each document.
pub struct HttpKeySource {
    client: reqwest::Client,
}

/// A discovery document or JWKS larger than this is refused.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl HttpKeySource {
    pub fn new() -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { client })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: status {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("GET {url}: larger than {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))
    }
}

#[async_trait]
impl KeySource for HttpKeySource {
    async fn fetch(&self, issuer: &str) -> Result<JwkSet, String> {
        let base = issuer.trim_end_matches('/');
        let discovery: Discovery = self
            .get_json(&format!("{base}/.well-known/openid-configuration"))
            .await?;
        // OpenID Connect Discovery §4.3: the document must name the issuer it was asked of.
        if discovery.issuer != issuer {
            return Err(format!(
                "discovery names issuer {:?}, expected {issuer:?}",
                discovery.issuer
            ));
        }
        self.get_json(&discovery.jwks_uri).await
    }
}
