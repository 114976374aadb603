//! `fulgur ledger check`: the ledger's own invariants plus, per node, whether the Lightning
//! balance the node reports equals what the ledger says it holds.

use ledger::{check_books, get_account, BooksReport};

use crate::system::node_account;
use crate::{Gateway, GatewayError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBooks {
    pub node: String,
    /// What the ledger says the node holds.
    pub ledger_msat: i64,
    /// What the node's open channels hold on our side.
    pub node_msat: u64,
    /// Funds of closed channels not yet back in the node's wallet (a force close moves a
    /// channel's balance here, less the close's on-chain costs).
    pub closing_msat: u64,
    /// The node's on-chain wallet (where a closed channel's funds end up once swept).
    pub onchain_msat: u64,
    /// Payments still in flight on the node (their amounts are in neither figure yet).
    pub in_flight_payments: u64,
}

impl NodeBooks {
    pub fn matches(&self) -> bool {
        self.ledger_msat == self.node_msat as i64
    }

    /// What the ledger holds beyond the open channels, if it is all in closing channels
    /// less at most `max_close_cost_msat` of on-chain costs: nothing lost, but a close the
    /// books have not yet booked.
    pub fn explained_by_closing(&self, max_close_cost_msat: u64) -> bool {
        let beyond = self.ledger_msat - self.node_msat as i64;
        let unexplained = beyond - self.closing_msat as i64;
        self.closing_msat > 0
            && beyond > 0
            && (0..=max_close_cost_msat as i64).contains(&unexplained)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BooksCheck {
    pub ledger: BooksReport,
    pub nodes: Vec<NodeBooks>,
}

impl BooksCheck {
    pub fn ok(&self) -> bool {
        self.ledger.is_balanced() && self.nodes.iter().all(NodeBooks::matches)
    }
}

impl Gateway {
    /// Checks the books. Comparing a node is exact only when nothing is in flight on it
    /// (an HTTP burst still settling shows as a difference plus in-flight payments).
    pub async fn check_books(&self) -> Result<BooksCheck, GatewayError> {
        let ledger = self.inner.store.read(check_books).await?;
        let mut nodes = Vec::new();
        for status in self.inner.pool.status() {
            let node = self.inner.pool.get(&status.name)?;
            let node_msat = crate::system::channels_balance_msat(node.as_ref());
            let onchain = node.onchain_balance();
            let (closing_msat, onchain_msat) =
                (onchain.closing_sat * 1000, onchain.total_sat * 1000);
            let name = status.name.clone();
            let (ledger_msat, in_flight) = self
                .inner
                .store
                .read(move |sql| -> Result<(i64, u64), GatewayError> {
                    let account = get_account(sql, &node_account(&name))?;
                    let in_flight = sql
                        .query_one(
                            "SELECT COUNT(*) FROM payments WHERE node_name = $1 AND status = 'in_flight'",
                            &[name.as_str().into()],
                        )?
                        .u64(0)?;
                    Ok((-account.balance_msat, in_flight))
                })
                .await?;
            nodes.push(NodeBooks {
                node: status.name,
                ledger_msat,
                node_msat,
                closing_msat,
                onchain_msat,
                in_flight_payments: in_flight,
            });
        }
        Ok(BooksCheck { ledger, nodes })
    }
}
