//! `webhooks`: signed webhooks for the gateway's events. Tenants subscribe URLs to event
//! types; a dispatcher fans each outbox event out to the matching subscriptions (one
//! delivery row each, in one transaction with marking the event done) and sends every due
//! delivery with an HMAC-SHA256 signature, retrying failures with capped exponential backoff
//! and logging every attempt. Delivery is at least once: receivers deduplicate by event id.
//!
//! The gateway does not know this crate: it only writes the outbox, in the transaction of
//! the state change. Nor does this crate know the HTTP API; its one HTTP concern is the
//! outbound POST, behind [`Transport`].

mod backlog;
mod deliveries;
mod destination;
mod dispatcher;
mod error;
mod prune;
mod resolver;
mod secrets;
mod signature;
mod subscriptions;
#[cfg(feature = "testing")]
pub mod testing;
mod transport;

use std::sync::Arc;

use kernel::{Clock, IdSource};
use store::Store;
use tokio::sync::Notify;

pub use crate::deliveries::{Attempt, Delivery, DeliveryDetail, DeliveryState};
pub use crate::dispatcher::{backoff_ms, DispatcherHandle};
pub use crate::error::WebhookError;
pub use crate::signature::{sign, verify, SignatureError, SIGNATURE_HEADER};
pub use crate::subscriptions::{
    CreatedSubscription, NewSubscription, Subscription, WebhookSecret, EVENT_TYPES,
};
pub use crate::transport::{HttpTransport, Outgoing, Transport};

/// Webhook settings. Defaults: HTTPS receivers at public addresses only; at most 100
/// subscriptions per tenant; retries after 5 s, doubling up to 1 h, 20 attempts in all
/// (about 12 hours); 10 s per request and a claim's lease 30 s longer; 64 requests in
/// flight; the outbox polled every 200 ms.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Accept `http://` receiver URLs (development and tests only).
    pub allow_http: bool,
    /// Private networks receivers may be in after all (tests, the demo, a receiver on
    /// premises), at subscription and at connect time. Empty: public addresses only.
    pub allowed_private_networks: Vec<ipnet::IpNet>,
    pub max_subscriptions_per_tenant: usize,
    pub initial_backoff_ms: i64,
    pub max_backoff_ms: i64,
    pub max_attempts: u32,
    pub request_timeout_ms: u64,
    pub max_in_flight: usize,
    pub poll_interval_ms: u64,
    /// Most outbox events fanned out in one transaction.
    pub fan_out_batch: u32,
    /// A claimed delivery is left to its sender for the request timeout plus this; after
    /// that another dispatcher may send it again (its sender died mid-request).
    pub lease_margin_ms: i64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow_http: false,
            allowed_private_networks: Vec::new(),
            max_subscriptions_per_tenant: 100,
            initial_backoff_ms: 5_000,
            max_backoff_ms: 3_600_000,
            max_attempts: 20,
            request_timeout_ms: 10_000,
            max_in_flight: 64,
            poll_interval_ms: 200,
            fan_out_batch: 256,
            lease_margin_ms: 30_000,
        }
    }
}

impl WebhookConfig {
    /// How long a claimed delivery is left to its claimant: the request's timeout and the
    /// margin. Past it, another dispatcher sends the delivery again.
    pub fn lease_ms(&self) -> i64 {
        i64::try_from(self.request_timeout_ms)
            .unwrap_or(i64::MAX / 2)
            .saturating_add(self.lease_margin_ms.max(0))
    }
}

pub(crate) struct Inner {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
    pub config: WebhookConfig,
    /// Woken when there is work sooner than the next poll (a redelivery).
    pub wake: Notify,
    /// Where signing secrets are sealed.
    pub vault: vault::Vault,
    pub secret_cache: secrets::SecretCache,
}

/// Subscriptions, the delivery log and the dispatcher; cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    pub(crate) inner: Arc<Inner>,
}

impl Webhooks {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
        config: WebhookConfig,
        vault: vault::Vault,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                ids,
                config,
                wake: Notify::new(),
                vault,
                secret_cache: secrets::SecretCache::default(),
            }),
        }
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.inner.config
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }
}
