//! Name resolution at connect time that only hands out permitted addresses. Checking a
//! receiver's name when it subscribes proves nothing about what the name resolves to when
//! a delivery is sent (DNS rebinding), so the check belongs here, on the very addresses the
//! connection will use.

use std::net::SocketAddr;
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::destination::{permitted, DestinationRefused};

/// Resolves with the system resolver and drops every address outside the public internet
/// and the allowed private networks; none left is a [`DestinationRefused`] error.
pub(crate) struct PublicResolver {
    allowed_private_networks: Arc<[IpNet]>,
}

impl PublicResolver {
    pub(crate) fn new(allowed_private_networks: Arc<[IpNet]>) -> Self {
        Self {
            allowed_private_networks,
        }
    }
}

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = Arc::clone(&self.allowed_private_networks);
        let host = name.as_str().to_string();
        Box::pin(async move {
            // Port 0: the connector puts the URL's port in.
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let kept: Vec<SocketAddr> = resolved
                .filter(|addr| permitted(addr.ip(), &allowed))
                .collect();
            if kept.is_empty() {
                tracing::info!(host, "webhook receiver resolves to no public address");
                return Err(Box::new(DestinationRefused) as _);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}
