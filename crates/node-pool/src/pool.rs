//! Several nodes in rotation: health per node and the rule that picks who pays.

use std::sync::{Arc, RwLock};

use crate::error::PoolError;
use crate::node::LightningNode;
use crate::types::Liquidity;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeHealth {
    Healthy,
    /// Out of rotation, with why.
    Down {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    pub name: String,
    pub health: NodeHealth,
    /// Sum over usable channels of the largest HTLC each can send now.
    pub sendable_msat: u64,
    /// Sum over usable channels of what the counterparty can send us.
    pub receivable_msat: u64,
    pub usable_channels: usize,
}

struct Member {
    node: Arc<dyn LightningNode>,
    /// Set by an operator or a failure detector; wins over what the node reports.
    fenced: Option<String>,
}

/// The pool. Sending: among healthy nodes that can send the amount, the one that can send
/// the most (keeps headroom). Receiving: the healthy nodes that can receive the amount take
/// turns, so concurrent invoices are created on all of them at once (a node writes its
/// invoices one at a time). Cheap enough to run per payment: it reads channel lists in
/// memory, no IO.
#[derive(Default)]
pub struct NodePool {
    members: RwLock<Vec<Member>>,
    /// Whose turn it is to receive, modulo the nodes that can.
    next_receiver: std::sync::atomic::AtomicUsize,
}

fn health_of(member: &Member, liquidity: &Liquidity) -> NodeHealth {
    if let Some(reason) = &member.fenced {
        return NodeHealth::Down {
            reason: reason.clone(),
        };
    }
    if !liquidity.running {
        return NodeHealth::Down {
            reason: "not running".to_string(),
        };
    }
    NodeHealth::Healthy
}

fn status_of(member: &Member) -> NodeStatus {
    let liquidity = member.node.liquidity();
    NodeStatus {
        name: member.node.name().to_string(),
        health: health_of(member, &liquidity),
        sendable_msat: liquidity.sendable_msat,
        receivable_msat: liquidity.receivable_msat,
        usable_channels: liquidity.usable_channels,
    }
}

impl NodePool {
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Member>> {
        self.members.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Member>> {
        self.members.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add(&self, node: Arc<dyn LightningNode>) -> Result<(), PoolError> {
        let mut members = self.write();
        if members.iter().any(|m| m.node.name() == node.name()) {
            return Err(PoolError::DuplicateName(node.name().to_string()));
        }
        members.push(Member { node, fenced: None });
        Ok(())
    }

    /// Replaces a member by name (e.g. after a restart), keeping its fence.
    pub fn replace(&self, node: Arc<dyn LightningNode>) -> Result<(), PoolError> {
        let mut members = self.write();
        let member = members
            .iter_mut()
            .find(|m| m.node.name() == node.name())
            .ok_or_else(|| PoolError::UnknownNode(node.name().to_string()))?;
        member.node = node;
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<Arc<dyn LightningNode>, PoolError> {
        self.read()
            .iter()
            .find(|m| m.node.name() == name)
            .map(|m| Arc::clone(&m.node))
            .ok_or_else(|| PoolError::UnknownNode(name.to_string()))
    }

    /// Takes a node out of rotation until [`NodePool::restore`].
    pub fn fence(&self, name: &str, reason: impl Into<String>) -> Result<(), PoolError> {
        let mut members = self.write();
        let member = members
            .iter_mut()
            .find(|m| m.node.name() == name)
            .ok_or_else(|| PoolError::UnknownNode(name.to_string()))?;
        member.fenced = Some(reason.into());
        Ok(())
    }

    pub fn restore(&self, name: &str) -> Result<(), PoolError> {
        let mut members = self.write();
        let member = members
            .iter_mut()
            .find(|m| m.node.name() == name)
            .ok_or_else(|| PoolError::UnknownNode(name.to_string()))?;
        member.fenced = None;
        Ok(())
    }

    pub fn status(&self) -> Vec<NodeStatus> {
        self.read().iter().map(status_of).collect()
    }

    /// The node to issue an invoice for `amount_msat` on: the healthy nodes that can
    /// receive the amount, in turn.
    pub fn select_for_receiving(
        &self,
        amount_msat: u64,
    ) -> Result<Arc<dyn LightningNode>, PoolError> {
        let members = self.read();
        let mut best_available_msat = 0;
        let mut able = Vec::with_capacity(members.len());
        for member in members.iter() {
            let status = status_of(member);
            if status.health != NodeHealth::Healthy {
                continue;
            }
            best_available_msat = best_available_msat.max(status.receivable_msat);
            if status.receivable_msat >= amount_msat {
                able.push(member);
            }
        }
        if able.is_empty() {
            return Err(PoolError::NoCapacity {
                amount_msat,
                best_available_msat,
            });
        }
        let turn = self
            .next_receiver
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Arc::clone(&able[turn % able.len()].node))
    }

    /// The node to send `amount_msat` through, restricted to `candidates` if given (e.g. the
    /// nodes a tenant may use).
    pub fn select_for_payment(
        &self,
        amount_msat: u64,
        candidates: Option<&[&str]>,
    ) -> Result<Arc<dyn LightningNode>, PoolError> {
        let members = self.read();
        let mut best_available_msat = 0;
        let mut chosen: Option<(&Member, u64)> = None;
        for member in members.iter() {
            if candidates.is_some_and(|names| !names.contains(&member.node.name())) {
                continue;
            }
            let status = status_of(member);
            if status.health != NodeHealth::Healthy {
                continue;
            }
            best_available_msat = best_available_msat.max(status.sendable_msat);
            if status.sendable_msat >= amount_msat
                && chosen.is_none_or(|(_, best)| status.sendable_msat > best)
            {
                chosen = Some((member, status.sendable_msat));
            }
        }
        chosen
            .map(|(member, _)| Arc::clone(&member.node))
            .ok_or(PoolError::NoCapacity {
                amount_msat,
                best_available_msat,
            })
    }
}
