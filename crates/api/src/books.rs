//! `GET /v1/ledger/check`: the books check over the running gateway (what `fulgur ledger
//! check` calls).

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use crate::problem::Problem;
use crate::ApiState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NodeBooksView {
    pub node: String,
    /// What the ledger says the node holds.
    pub ledger_msat: i64,
    /// What the node's open channels hold on our side.
    pub node_msat: u64,
    /// Funds of closed channels not yet back in the node's wallet.
    pub closing_msat: u64,
    /// The node's on-chain wallet.
    pub onchain_msat: u64,
    /// What the ledger says the wallet holds: funds closed channels returned to it.
    pub wallet_ledger_msat: i64,
    pub in_flight_payments: u64,
    /// Succeeded payments whose routing fee the node never reported (booked without it):
    /// the node holds less than the ledger by those fees.
    pub unknown_fee_payments: u64,
    pub matches: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BooksView {
    /// Everything below holds.
    pub ok: bool,
    pub journal_entries: u64,
    pub postings: u64,
    /// Sum of every account balance; zero when the books balance.
    pub total_msat: i64,
    /// Journal entries whose postings do not sum to zero.
    pub unbalanced_entries: Vec<String>,
    /// Accounts whose balance is not the sum of their postings.
    pub balance_mismatches: Vec<String>,
    /// Accounts whose pending amount is not the sum of their active holds.
    pub pending_mismatches: Vec<String>,
    /// Accounts below zero that may not be.
    pub negative_accounts: Vec<String>,
    pub nodes: Vec<NodeBooksView>,
}

/// Check the books: every entry balances, every balance is its postings, and each node
/// holds what the ledger says in its channels and at least what it says in its wallet.
#[utoipa::path(get, path = "/v1/ledger/check", responses((status = 200, body = BooksView)))]
pub async fn check(State(state): State<ApiState>) -> Result<Json<BooksView>, Problem> {
    let check = state.gateway.check_books().await?;
    let ledger = &check.ledger;
    Ok(Json(BooksView {
        ok: check.ok(),
        journal_entries: ledger.journal_entries,
        postings: ledger.postings,
        total_msat: ledger.total_msat,
        unbalanced_entries: ledger
            .unbalanced_entries
            .iter()
            .map(|(id, sum)| format!("{id}: {sum}"))
            .collect(),
        balance_mismatches: ledger
            .balance_mismatches
            .iter()
            .map(|(id, stored, summed)| format!("{id}: stored {stored}, postings {summed}"))
            .collect(),
        pending_mismatches: ledger
            .pending_mismatches
            .iter()
            .map(|(id, stored, summed)| format!("{id}: stored {stored}, holds {summed}"))
            .collect(),
        negative_accounts: ledger
            .negative_accounts
            .iter()
            .map(|(id, v)| format!("{id}: {v}"))
            .collect(),
        nodes: check
            .nodes
            .iter()
            .map(|n| NodeBooksView {
                node: n.node.clone(),
                ledger_msat: n.ledger_msat,
                node_msat: n.node_msat,
                closing_msat: n.closing_msat,
                onchain_msat: n.onchain_msat,
                wallet_ledger_msat: n.wallet_ledger_msat,
                in_flight_payments: n.in_flight_payments,
                unknown_fee_payments: n.unknown_fee_payments,
                matches: n.matches(),
            })
            .collect(),
    }))
}
