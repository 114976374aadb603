//! Which nodes this gateway instance runs, by name **and** public key. Two replicas
//! started with one configuration must not both book, execute and re-send the same
//! node's payments, and a node that reappears under a known name with another key is
//! another node, not more money in the first one's account.
//!
//! Each node has a lease held by one instance and renewed while it runs
//! ([`NODE_LEASE_MS`]); a start whose node is leased to a live other instance is refused,
//! and an instance that loses a lease (it stalled past expiry and another took over)
//! fences the node in its pool at once. This is the gateway's half of node ownership;
//! fencing the node process itself before it starts belongs to HA (issue 25).

use store::{Sql, Value};

use crate::{Gateway, GatewayError};

/// How long a lease lasts without renewal. Renewed every third of it.
pub const NODE_LEASE_MS: i64 = 30_000;

/// Registers `node` with `pubkey` and takes its lease for `instance`, in the caller's
/// transaction.
pub(crate) fn claim(
    sql: &mut dyn Sql,
    node: &str,
    pubkey: &str,
    instance: &str,
    now_ms: i64,
) -> Result<(), GatewayError> {
    sql.execute(
        "INSERT INTO node_registry (name, pubkey, owner_instance, lease_expires_at_ms, \
         registered_at_ms) VALUES ($1, $2, NULL, NULL, $3) ON CONFLICT (name) DO NOTHING",
        &[node.into(), pubkey.into(), Value::Int(now_ms)],
    )?;
    let row = sql.query_one(
        "SELECT pubkey, owner_instance, lease_expires_at_ms FROM node_registry WHERE name = $1",
        &[node.into()],
    )?;
    let registered = row.text("pubkey")?.to_string();
    if registered != pubkey {
        return Err(GatewayError::NodeIdentityMismatch {
            node: node.to_string(),
            registered,
            running: pubkey.to_string(),
        });
    }
    let taken = sql.execute(
        "UPDATE node_registry SET owner_instance = $2, lease_expires_at_ms = $3 \
         WHERE name = $1 AND (owner_instance IS NULL OR owner_instance = $2 \
         OR lease_expires_at_ms < $4)",
        &[
            node.into(),
            instance.into(),
            Value::Int(now_ms + NODE_LEASE_MS),
            Value::Int(now_ms),
        ],
    )?;
    if taken == 0 {
        return Err(GatewayError::NodeOwnedElsewhere {
            node: node.to_string(),
            owner: row
                .opt_text("owner_instance")?
                .unwrap_or_default()
                .to_string(),
            until_ms: row.opt_i64("lease_expires_at_ms")?.unwrap_or_default(),
        });
    }
    Ok(())
}

impl Gateway {
    /// This process's instance id (in leases and logs).
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// Renews this instance's leases; a node whose lease another instance took is fenced
    /// out of rotation here. Returns the nodes lost.
    pub async fn renew_node_leases(&self) -> Result<Vec<String>, GatewayError> {
        let (instance, now) = (self.inner.instance.clone(), self.now_ms());
        let names: Vec<String> = self
            .inner
            .pool
            .status()
            .into_iter()
            .map(|s| s.name)
            .collect();
        let lost = self
            .inner
            .store
            .write(move |sql| -> Result<Vec<String>, GatewayError> {
                let mut lost = Vec::new();
                for name in names {
                    let renewed = sql.execute(
                        "UPDATE node_registry SET lease_expires_at_ms = $3 \
                         WHERE name = $1 AND owner_instance = $2",
                        &[
                            name.as_str().into(),
                            instance.as_str().into(),
                            Value::Int(now + NODE_LEASE_MS),
                        ],
                    )?;
                    if renewed == 0 {
                        lost.push(name);
                    }
                }
                Ok(lost)
            })
            .await?;
        for name in &lost {
            tracing::error!(node = %name, "node lease lost to another instance: fenced here");
            let _ = self
                .inner
                .pool
                .fence(name, "its lease is held by another gateway instance");
        }
        Ok(lost)
    }

    /// Gives up this instance's leases (clean shutdown), so a successor starts at once.
    pub async fn release_node_leases(&self) -> Result<(), GatewayError> {
        let instance = self.inner.instance.clone();
        self.inner
            .store
            .write(move |sql| {
                sql.execute(
                    "UPDATE node_registry SET owner_instance = NULL, lease_expires_at_ms = NULL \
                     WHERE owner_instance = $1",
                    &[instance.as_str().into()],
                )
            })
            .await?;
        Ok(())
    }
}
