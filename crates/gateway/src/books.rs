//! `fulgur ledger check`: the ledger's own invariants plus, per node, whether the Lightning
//! balance the node reports equals what the ledger says it holds.

use ledger::{check_books, get_account, BooksReport};

use crate::system::{node_account, wallet_held_msat};
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
    /// What the ledger says the node's wallet holds: funds closed channels returned to it.
    pub wallet_ledger_msat: i64,
    /// Payments still in flight on the node (their amounts are in neither figure yet).
    pub in_flight_payments: u64,
    /// Succeeded payments whose routing fee the node never reported: booked without it, so
    /// the node holds less than the ledger says by their (unknown) fees.
    pub unknown_fee_payments: u64,
}

impl NodeBooks {
    /// The open channels hold exactly what the ledger says, and the wallet at least what
    /// the ledger says it holds (the rest of the wallet is the owner's, off the books).
    pub fn matches(&self) -> bool {
        self.ledger_msat == self.node_msat as i64
            && self.wallet_ledger_msat <= self.onchain_msat as i64
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
            let (ledger_msat, wallet_ledger_msat, in_flight, unknown_fees) = self
                .inner
                .store
                .read(move |sql| -> Result<(i64, i64, u64, u64), GatewayError> {
                    let account = get_account(sql, &node_account(&name))?;
                    let wallet = wallet_held_msat(sql, &name)?;
                    let in_flight = sql
                        .query_one(
                            "SELECT COUNT(*) AS in_flight FROM payments WHERE node_name = $1 AND status = 'in_flight'",
                            &[name.as_str().into()],
                        )?
                        .u64("in_flight")?;
                    let unknown_fees = sql
                        .query_one(
                            "SELECT COUNT(*) AS unknown_fees FROM payments WHERE node_name = $1 \
                             AND status = 'succeeded' AND route = 'lightning' AND fee_msat IS NULL",
                            &[name.as_str().into()],
                        )?
                        .u64("unknown_fees")?;
                    Ok((-account.balance_msat, wallet, in_flight, unknown_fees))
                })
                .await?;
            nodes.push(NodeBooks {
                node: status.name,
                ledger_msat,
                node_msat,
                closing_msat,
                onchain_msat,
                wallet_ledger_msat,
                in_flight_payments: in_flight,
                unknown_fee_payments: unknown_fees,
            });
        }
        Ok(BooksCheck { ledger, nodes })
    }
}
