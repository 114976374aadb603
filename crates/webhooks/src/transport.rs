//! The outbound POST, behind a trait so the dispatcher's retry logic can be driven by a
//! test double as well as by real HTTP.

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ipnet::IpNet;

use crate::destination::{check_literal_host, DestinationRefused};
use crate::resolver::PublicResolver;
use crate::WebhookConfig;

/// What the delivery log says when no response came. Fixed and coarse on purpose: the
/// tenant reads it, and the HTTP client's own words (addresses, ports, certificate
/// details, resolver errors) would make the dispatcher a scanner with an oracle.
const TIMED_OUT: &str = "timed out";
const COULD_NOT_CONNECT: &str = "could not connect";
const TLS_FAILED: &str = "TLS handshake failed";
const REQUEST_FAILED: &str = "request failed";
/// [`DestinationRefused`]'s text, as a constant.
const DESTINATION_REFUSED: &str = "destination refused: not a public address";

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
/// moves must be re-subscribed, so a signed event never lands somewhere unexpected). Only
/// public addresses and the config's allowed private networks are connected to (see
/// `destination.rs`); no proxy, so the addresses checked are the addresses reached.
pub struct HttpTransport {
    client: reqwest::Client,
    allowed_private_networks: Arc<[IpNet]>,
}

impl HttpTransport {
    /// With the config's request timeout (connecting gets at most 5 s of it) and its
    /// allowed private networks.
    pub fn new(config: &WebhookConfig) -> Result<Self, String> {
        let request_timeout = Duration::from_millis(config.request_timeout_ms);
        let allowed_private_networks: Arc<[IpNet]> = config.allowed_private_networks.clone().into();
        let client = reqwest::Client::builder()
            .timeout(request_timeout)
            .connect_timeout(request_timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(PublicResolver::new(Arc::clone(
                &allowed_private_networks,
            ))))
            .user_agent(concat!("Fulgur-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            allowed_private_networks,
        })
    }
}

#[async_trait::async_trait]
impl Transport for HttpTransport {
    async fn post(&self, request: Outgoing) -> Result<u16, String> {
        let url = reqwest::Url::parse(&request.url).map_err(|_| REQUEST_FAILED.to_string())?;
        // An address literal is connected to without resolution, so the resolver never
        // sees it: checked here, for rows stored before the creation check too.
        check_literal_host(&url, &self.allowed_private_networks).map_err(|e| e.to_string())?;
        let mut builder = self.client.post(url).body(request.body);
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| coarse_error(&e).to_string())?;
        Ok(response.status().as_u16())
    }
}

/// The fixed text for a failed request.
fn coarse_error(e: &reqwest::Error) -> &'static str {
    let causes = causes(e);
    if causes
        .iter()
        .any(|c| c.downcast_ref::<DestinationRefused>().is_some())
    {
        return DESTINATION_REFUSED;
    }
    if e.is_timeout() {
        TIMED_OUT
    } else if e.is_connect() {
        // rustls reports a failed handshake (bad certificate, not TLS at all, an alert) as
        // invalid data, and a peer that hangs up mid-handshake as an unexpected end.
        let tls = causes.iter().any(|c| {
            c.downcast_ref::<io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                )
            })
        });
        if tls {
            TLS_FAILED
        } else {
            COULD_NOT_CONNECT
        }
    } else {
        REQUEST_FAILED
    }
}

/// Every error in `e`'s chain. An `io::Error`'s `source` skips the error it wraps (it
/// reports that error's source), so the wrapped error is visited explicitly.
fn causes<'a>(e: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut found = Vec::new();
    let mut pending: Vec<&'a (dyn StdError + 'static)> = vec![e];
    while let Some(next) = pending.pop() {
        // Bounded: error chains are short, and a cyclic one must not hang a sender.
        if found.len() >= 64 {
            break;
        }
        found.push(next);
        if let Some(source) = next.source() {
            pending.push(source);
        }
        if let Some(inner) = next
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
        {
            pending.push(inner);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_text_is_the_refusal_errors_own() {
        assert_eq!(DESTINATION_REFUSED, DestinationRefused.to_string());
    }
}
