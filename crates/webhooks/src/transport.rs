//! The outbound POST, behind a trait so the dispatcher's retry logic can be driven by a
//! test double as well as by real HTTP.

use std::time::Duration;

use bytes::Bytes;

use crate::WebhookConfig;

/// One webhook request.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Sends the request; the receiver's status code, or why no response came.
    async fn post(&self, request: Outgoing) -> Result<u16, String>;
}

/// Real HTTP(S) with rustls: a bounded time per request and no redirects (a receiver that
/// moves must be re-subscribed, so a signed event never lands somewhere unexpected).
pub struct HttpTransport {
    client: reqwest::Client,
}

impl HttpTransport {
    /// With the config's request timeout (connecting gets at most 5 s of it).
    pub fn new(config: &WebhookConfig) -> Result<Self, String> {
        let request_timeout = Duration::from_millis(config.request_timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(request_timeout)
            .connect_timeout(request_timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Fulgur-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { client })
    }
}

#[async_trait::async_trait]
impl Transport for HttpTransport {
    async fn post(&self, request: Outgoing) -> Result<u16, String> {
        let mut builder = self.client.post(&request.url).body(request.body);
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        let response = builder.send().await.map_err(|e| {
            // Without the URL: it may carry a token in its query.
            let e = e.without_url();
            if e.is_timeout() {
                "timed out".to_string()
            } else if e.is_connect() {
                "could not connect".to_string()
            } else {
                e.to_string()
            }
        })?;
        Ok(response.status().as_u16())
    }
}
